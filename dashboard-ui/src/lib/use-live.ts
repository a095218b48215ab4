/** Loads a page's data now and again whenever live changes arrive (coalesced), keeping the last good data on errors. */

import { onBeforeUnmount, ref, watch, type Ref } from "vue";
import { onJobRows, state } from "./state";

export function useLive<T>(
  load: () => Promise<T>,
  minGapMs = 300,
  /**
   * What makes the page reload: counts/cron changes, job changes, nothing (the page patches
   * rows itself), or only changed job rows the page is about (it returns true for them).
   */
  on: "all" | "counts" | "none" | ((rows: any[]) => boolean) = "all",
): { data: Ref<T | null>; error: Ref<string>; reload: () => Promise<void> } {
  const data = ref<T | null>(null) as Ref<T | null>;
  const error = ref("");
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight = false;
  let again = false;
  let last = 0;
  const reload = async () => {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    last = Date.now();
    try {
      data.value = await load();
      error.value = "";
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e);
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(reload, Math.max(0, minGapMs - (Date.now() - last)));
  };
  let off = () => {};
  if (typeof on === "function") off = onJobRows((rows) => on(rows) && schedule());
  else {
    if (on !== "none") watch(() => state.tick, schedule);
    if (on === "all") watch(() => state.jobsTick, schedule);
  }
  onBeforeUnmount(() => {
    clearTimeout(timer);
    off();
  });
  void reload();
  return { data, error, reload };
}
