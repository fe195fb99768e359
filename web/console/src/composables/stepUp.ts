/**
 * Step-up re-authentication (DOMAIN.md §10: re-authentication for sensitive actions). A call the
 * server answers with 403 next="step_up" opens the step-up dialog (password + TOTP code, POST
 * /auth/step-up) and is retried once after it succeeds.
 */
import { reactive } from "vue";
import { ApiProblem } from "../api/http";
import { StepUpCancelled } from "./problems";

export const stepUpState = reactive<{
  visible: boolean;
  resolve: (() => void) | null;
  reject: ((err: unknown) => void) | null;
}>({ visible: false, resolve: null, reject: null });

/** Open the dialog; resolves when the user has stepped up, rejects with StepUpCancelled. */
export function requestStepUp(): Promise<void> {
  stepUpState.reject?.(new StepUpCancelled());
  return new Promise<void>((resolve, reject) => {
    stepUpState.resolve = resolve;
    stepUpState.reject = reject;
    stepUpState.visible = true;
  });
}

export function isStepUpRequired(err: unknown): boolean {
  return err instanceof ApiProblem && err.status === 403 && err.next === "step_up";
}

export async function withStepUp<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (err) {
    if (!isStepUpRequired(err)) throw err;
    await requestStepUp();
    return await action();
  }
}
