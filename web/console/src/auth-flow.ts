/** Moving through the login steps, and leaving the console when the session ends. */
import { ElMessage } from "element-plus";
import { ApiProblem, hooks } from "./api/http";
import { i18n } from "./i18n";
import { router } from "./router";
import { clearSession, loadMe, logoutServer, session, stepRoute } from "./session";

/**
 * The password typed on the login page, kept in memory only (never stored) so the forced
 * first-login password change need not ask for it again. Cleared once used.
 */
let pendingPassword: string | null = null;
export function rememberLoginPassword(password: string | null): void {
  pendingPassword = password;
}
export function takeLoginPassword(): string | null {
  const p = pendingPassword;
  pendingPassword = null;
  return p;
}
export function peekLoginPassword(): string | null {
  return pendingPassword;
}

/** Where to go once logged in: the page asked for before the login, else home. */
function redirectTarget(): string {
  const r = router.currentRoute.value.query.redirect;
  return typeof r === "string" && r.startsWith("/") && !r.startsWith("//") ? r : "/";
}

/** After a login step: go to the next step the server names, or into the console. */
export async function continueLogin(next?: string | null): Promise<void> {
  const query = router.currentRoute.value.query.redirect ? { redirect: redirectTarget() } : {};
  const step = stepRoute(next ?? null);
  if (step) {
    await router.push({ name: step, query });
    return;
  }
  const me = await loadMe();
  const pending = stepRoute(me.next ?? null);
  if (pending) {
    await router.push({ name: pending, query });
    return;
  }
  pendingPassword = null;
  await router.push(redirectTarget());
}

/** Leave the console for the login page. */
export async function logout(reason?: "idle" | "expired"): Promise<void> {
  await logoutServer();
  const t = i18n.global.t;
  if (reason === "idle") ElMessage.warning(t("app.idleLoggedOut"));
  if (reason === "expired") ElMessage.warning(t("app.sessionEnded"));
  await router.push({ name: "login", query: reason ? { reason } : {} });
}

export function installAuthHooks(): void {
  hooks.unauthorized = (problem: ApiProblem) => {
    // Only a session that was working and then ended (expired, idle, revoked) is handled here; the
    // router guard and the login pages handle their own 401s.
    if (!session.me || router.currentRoute.value.meta.public) return;
    // A wrong password/code in the step-up dialog is a 401 too, but the session is still good.
    if (problem.code === "second_factor_failed" || problem.path?.endsWith("/auth/step-up")) return;
    const step = stepRoute(problem.next);
    clearSession();
    const redirect = router.currentRoute.value.fullPath;
    if (step) void router.push({ name: step });
    else {
      ElMessage.warning(i18n.global.t("app.sessionEnded"));
      void router.push({ name: "login", query: { redirect, reason: "expired" } });
    }
  };
  hooks.mfaRequired = () => {
    if (!session.me || router.currentRoute.value.meta.public) return;
    clearSession();
    void router.push({ name: "login-mfa" });
  };
}
