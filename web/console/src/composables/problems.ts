/** Showing failed calls: field errors next to their inputs, everything else as a message. */
import { reactive } from "vue";
import { ElMessage } from "element-plus";
import { ApiProblem, fieldErrors } from "@ihis/shared/api";
import { i18n } from "../i18n";

/** The text to show for a failed call (429/lockout names the wait). */
export function describeProblem(err: unknown): string {
  const t = i18n.global.t;
  if (err instanceof ApiProblem) {
    if (err.status === 0) return t("problem.network");
    if (err.status === 429 || (err.retryAfter && err.retryAfter > 0)) {
      const wait = err.retryAfter ?? 60;
      const base = err.detail || err.title;
      return base ? base + t("problem.retryAt", { time: formatWait(wait) }) : t("problem.retryAfter", { s: wait });
    }
    return err.userMessage || t("problem.generic");
  }
  return t("problem.generic");
}

/** "95 s" or "15 min" in the UI language. */
export function formatWait(seconds: number): string {
  const en = i18n.global.locale.value === "en";
  if (seconds < 90) return en ? `${seconds} s` : `${seconds} 秒`;
  const minutes = Math.ceil(seconds / 60);
  return en ? `${minutes} min` : `${minutes} 分钟`;
}

/** Pop up the message of a failed call (not used for cancelled dialogs). */
export function notifyProblem(err: unknown): void {
  if (err === "cancel" || err === "close" || err instanceof StepUpCancelled) return;
  if (!(err instanceof ApiProblem)) console.error(err);
  ElMessage.error({ message: describeProblem(err), duration: 5000 });
}

export class StepUpCancelled extends Error {
  constructor() {
    super("step-up cancelled");
    this.name = "StepUpCancelled";
  }
}

/**
 * Server field errors for one form: `errors.username` feeds `<el-form-item :error>`.
 * `capture(err)` fills them from a problem and returns the message for what no field shows.
 */
export function useFieldErrors() {
  const errors = reactive<Record<string, string>>({});
  function clear(): void {
    for (const key of Object.keys(errors)) delete errors[key];
  }
  function capture(err: unknown, known: readonly string[] = []): string | null {
    clear();
    const fields = fieldErrors(err);
    let unplaced = false;
    for (const [field, message] of Object.entries(fields)) {
      // A nested path (roles.1, items.0.price_fen) is shown on its top-level field.
      const top = field.split(".")[0] ?? field;
      if (known.length === 0 || known.includes(top)) {
        errors[top] = errors[top] ? errors[top] : message;
      } else unplaced = true;
    }
    if (Object.keys(fields).length === 0 || unplaced) return describeProblem(err);
    return null;
  }
  return { errors, clear, capture };
}
