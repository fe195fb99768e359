import { getCurrentScope, onScopeDispose, toValue, watch, type MaybeRefOrGetter } from "vue";

const ACTIVITY_EVENTS = ["pointerdown", "pointermove", "keydown", "wheel", "touchstart", "scroll"] as const;

/**
 * Call `onTimeout` once after `seconds` without user activity (pointer, keys, touch, scroll).
 * The server enforces its own idle timeout (default 30 min); this one takes the user to the login
 * page at the same moment instead of letting the next click fail. `seconds` may be a ref or getter
 * (e.g. `idle_timeout_seconds` from /auth/me); 0 or less disables it. Stops with the calling scope.
 */
export function useIdleTimeout(seconds: MaybeRefOrGetter<number | null | undefined>, onTimeout: () => void) {
  let last = Date.now();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let listening = false;
  let fired = false;

  const limitMs = (): number => Math.max(0, Number(toValue(seconds) ?? 0)) * 1000;

  function schedule(): void {
    if (timer) clearTimeout(timer);
    timer = null;
    const limit = limitMs();
    if (!limit || fired) return;
    const left = last + limit - Date.now();
    if (left <= 0) {
      fire();
      return;
    }
    // Background tabs throttle timers; re-check at the deadline rather than trusting one long timer.
    timer = setTimeout(schedule, Math.min(left, 60_000));
  }

  function fire(): void {
    if (fired) return;
    fired = true;
    stop();
    onTimeout();
  }

  function activity(): void {
    const now = Date.now();
    // Throttle: the pointer moves many times a second.
    if (now - last < 1000) return;
    last = now;
  }

  function visibility(): void {
    if (document.visibilityState === "visible") schedule();
  }

  function start(): void {
    if (typeof window === "undefined") return;
    fired = false;
    last = Date.now();
    if (!limitMs()) {
      stop();
      return;
    }
    if (!listening) {
      for (const name of ACTIVITY_EVENTS) window.addEventListener(name, activity, { passive: true, capture: true });
      document.addEventListener("visibilitychange", visibility);
      listening = true;
    }
    schedule();
  }

  function stop(): void {
    if (timer) clearTimeout(timer);
    timer = null;
    if (listening && typeof window !== "undefined") {
      for (const name of ACTIVITY_EVENTS) window.removeEventListener(name, activity, { capture: true });
      document.removeEventListener("visibilitychange", visibility);
      listening = false;
    }
  }

  /** Count from now again (e.g. after a successful API call). */
  function reset(): void {
    last = Date.now();
    if (!fired) schedule();
  }

  // A new limit (e.g. 0 after logout, 1800 after the next login) starts counting afresh.
  watch(() => toValue(seconds), start);
  start();
  if (getCurrentScope()) onScopeDispose(stop);

  return { reset, stop, start };
}
