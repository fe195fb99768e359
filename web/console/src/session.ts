/** Who is logged in (from /auth/me) and what they may do. */
import { reactive } from "vue";
import { api, unwrap } from "./api/http";
import type { Me } from "./api/types";

export const session = reactive<{ me: Me | null }>({ me: null });

export async function loadMe(): Promise<Me> {
  const me = await unwrap(api.GET("/api/v1/auth/me"));
  session.me = me;
  return me;
}

export function clearSession(): void {
  session.me = null;
}

export function can(permission: string): boolean {
  return !!session.me?.permissions?.includes(permission);
}

export function canAny(permissions: readonly string[]): boolean {
  return permissions.length === 0 || permissions.some(can);
}

/** A menu entry (or route) the user may see: one of its permissions, and one of its roles if it names any. */
export function mayOpen(entry: { permissions: readonly string[]; roles?: readonly string[] }): boolean {
  const roles = session.me?.roles ?? [];
  return canAny(entry.permissions) && (!entry.roles || entry.roles.some((r) => roles.includes(r)));
}

/** The route (by name) where each pending login step is done ("done" and null: none). */
export function stepRoute(next: string | null | undefined): string | null {
  switch (next) {
    case "mfa":
      return "login-mfa";
    case "enrol_mfa":
      return "login-enrol";
    case "change_password":
      return "login-password";
    default:
      return null;
  }
}

/** Log out on the server (best effort) and forget the user here. */
export async function logoutServer(): Promise<void> {
  try {
    await api.POST("/api/v1/auth/logout");
  } catch {
    // already logged out or offline: the session is gone for us either way
  }
  clearSession();
}
