/** Who is logged in (from /auth/me), shared by the router guard, the watermark and the pages. */
import { ApiProblem, type ResponseOf } from "@ihis/shared/api";
import { reactive } from "vue";
import { api } from "./api";

export type Me = ResponseOf<"/api/v1/auth/me", "get">;

export const session = reactive<{ me: Me | null; loaded: boolean }>({ me: null, loaded: false });

let pending: Promise<Me | null> | null = null;

/** The current patient, or null when not logged in (cached until `force` or logout). */
export function loadMe(force = false): Promise<Me | null> {
  if (session.loaded && !force) return Promise.resolve(session.me);
  pending ??= api
    .GET("/api/v1/auth/me")
    .then(({ data }) => {
      session.me = data && data.kind === "patient" ? data : null;
      return session.me;
    })
    .catch((err: unknown) => {
      if (err instanceof ApiProblem && (err.status === 401 || err.status === 403)) {
        session.me = null;
        return null;
      }
      throw err;
    })
    .finally(() => {
      session.loaded = true;
      pending = null;
    });
  return pending;
}

export function clearSession(): void {
  session.me = null;
  session.loaded = true;
}

/** End the session on the server (best effort) and forget it here. */
export async function logout(): Promise<void> {
  try {
    await api.POST("/api/v1/auth/logout");
  } catch {
    // already expired or offline: the local state is cleared anyway
  }
  clearSession();
}
