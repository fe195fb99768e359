/** A ticking "now" for countdowns, stopped when the component using it unmounts. */
import { onBeforeUnmount, ref, type Ref } from "vue";

export function useNow(intervalMs = 1000): Ref<number> {
  const now = ref(Date.now());
  const timer = setInterval(() => {
    now.value = Date.now();
  }, intervalMs);
  onBeforeUnmount(() => clearInterval(timer));
  return now;
}
