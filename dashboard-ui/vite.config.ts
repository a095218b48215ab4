/** Builds the dashboard UI into src/dashboard/assets, where the server (and the package) finds it. */

import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";
import tailwindcss from "@tailwindcss/vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("."),
  // Relative URLs: the dashboard is mounted under any base path chosen at runtime.
  base: "./",
  plugins: [vue(), tailwindcss()],
  build: {
    outDir: here("../src/dashboard/assets"),
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 300,
    reportCompressedSize: true,
  },
  define: {
    __VUE_OPTIONS_API__: "false",
    __VUE_PROD_DEVTOOLS__: "false",
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false",
  },
});
