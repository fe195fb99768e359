/** Form error state: server field errors next to their fields, anything else in one message. */
import { fieldErrors } from "@ihis/shared/api";
import { problemMessage } from "@ihis/shared/i18n";
import { reactive, ref } from "vue";
import { useI18n } from "vue-i18n";

export function useFormErrors<F extends string>(fields: readonly F[]) {
  const { t } = useI18n();
  const errors = reactive(Object.fromEntries(fields.map((f) => [f, ""]))) as Record<F, string>;
  const general = ref("");

  function clear(): void {
    for (const f of fields) errors[f] = "";
    general.value = "";
  }

  /**
   * Show a failed call: each known field's message by its field, the rest as the general message
   * (`always`: the general message too, e.g. a real-name rejection that names two fields).
   */
  function show(err: unknown, opts: { always?: boolean } = {}): void {
    clear();
    const byField = fieldErrors(err);
    let placed = 0;
    for (const [field, message] of Object.entries(byField)) {
      if ((fields as readonly string[]).includes(field)) {
        errors[field as F] = message;
        placed += 1;
      }
    }
    const unplaced = Object.keys(byField).length - placed;
    if (opts.always || placed === 0 || unplaced > 0) general.value = problemMessage(err, t);
  }

  /** Set a client-side check's message on a field; returns false so it can end a validation chain. */
  function fail(field: F, message: string): false {
    errors[field] = message;
    return false;
  }

  return { errors, general, clear, show, fail };
}

export const PHONE_RE = /^1\d{10}$/;
export const CODE_RE = /^\d{6}$/;
export const ID_NUMBER_RE = /^\d{17}[\dXx]$/;
