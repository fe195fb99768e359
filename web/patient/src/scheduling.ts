/** Clinic sessions (号源) as the patient end sees them, and the slot chosen for booking. */
import type { ResponseOf } from "@ihis/shared/api";
import { reactive } from "vue";
import { api } from "./api";

export type PublicSessionPage = ResponseOf<"/api/v1/public/sessions", "get">;
export type PublicSession = PublicSessionPage["items"][number];
export const MODES = ["text", "phone", "video"] as const;
export type Mode = (typeof MODES)[number];

/** The last sessions shown, by id, so the booking page opens without a second look-up. */
const seen = reactive(new Map<number, PublicSession>());

export function remember(sessions: readonly PublicSession[]): void {
  for (const s of sessions) seen.set(s.id, s);
}

/**
 * One bookable session by id: from what was just shown, else among the doctor's next sessions
 * (there is no public single-session endpoint; a session outside the window is not bookable).
 */
export async function findSession(sessionId: number, doctorId: number | null): Promise<PublicSession | null> {
  const known = seen.get(sessionId);
  if (known) return known;
  const { data } = doctorId
    ? await api.GET("/api/v1/public/doctors/{user_id}/sessions", { params: { path: { user_id: doctorId }, query: { limit: 100 } } })
    : await api.GET("/api/v1/public/sessions", { params: { query: { limit: 100 } } });
  remember(data?.items ?? []);
  return seen.get(sessionId) ?? null;
}

/** The booking page of a session (the doctor's account id helps it find the session again on reload). */
export function bookingRoute(s: Pick<PublicSession, "id" | "doctor_id">) {
  return { name: "booking", params: { sessionId: s.id }, query: { doctor: s.doctor_id } } as const;
}

/** A doctor page's next sessions (sessions name the doctor by account id: the directory's `user_id`). */
export async function doctorSessions(doctor: { user_id: number }): Promise<PublicSession[]> {
  const { data } = await api.GET("/api/v1/public/doctors/{user_id}/sessions", { params: { path: { user_id: doctor.user_id }, query: { limit: 20 } } });
  remember(data?.items ?? []);
  return data?.items ?? [];
}
