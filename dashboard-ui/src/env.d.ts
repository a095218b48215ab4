/** Lets plain tsc check the UI's TypeScript modules: .vue files are typed as components. */
declare module "*.vue" {
  import type { DefineComponent } from "vue";
  const component: DefineComponent<object, object, any>;
  export default component;
}
