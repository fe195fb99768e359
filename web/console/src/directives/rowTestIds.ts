/**
 * `v-row-testids="ids"` on an <el-table>: puts `data-testid=ids[i]` on the i-th body row.
 * Element Plus renders table rows itself and passes no attributes to them, so the browser tests
 * could not otherwise address a row (staff-row-<username>, audit-row, sms-row). Rows follow the
 * order of the table's data (the console never sorts on the client).
 */
import type { Directive } from "vue";

interface State {
  ids: string[];
  observer: MutationObserver;
  apply: () => void;
}
const states = new WeakMap<HTMLElement, State>();

function applyTo(el: HTMLElement, state: State): void {
  const rows = el.querySelectorAll<HTMLTableRowElement>(".el-table__body-wrapper tbody > tr.el-table__row");
  rows.forEach((row, i) => {
    const id = state.ids[i];
    if (id === undefined) {
      if (row.hasAttribute("data-testid")) row.removeAttribute("data-testid");
    } else if (row.dataset.testid !== id) row.dataset.testid = id;
  });
}

export const vRowTestids: Directive<HTMLElement, string[]> = {
  mounted(el, binding) {
    const state: State = {
      ids: binding.value ?? [],
      observer: new MutationObserver(() => applyTo(el, state)),
      apply: () => applyTo(el, state),
    };
    states.set(el, state);
    state.observer.observe(el, { childList: true, subtree: true });
    state.apply();
  },
  updated(el, binding) {
    const state = states.get(el);
    if (!state) return;
    state.ids = binding.value ?? [];
    state.apply();
  },
  unmounted(el) {
    states.get(el)?.observer.disconnect();
    states.delete(el);
  },
};
