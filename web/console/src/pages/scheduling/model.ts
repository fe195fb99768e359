/**
 * Scheduling helpers shared by the scheduling pages: hospital-local calendar days (Asia/Shanghai,
 * the zone the server uses for `service_date` and template weekdays), session times, and which
 * temporary change a session still allows (the server checks again: these only hide buttons).
 */
import type { ClinicSession } from "../../api/types";

export const HOSPITAL_TZ = "Asia/Shanghai";
export const SERVICE_MODES = ["text", "phone", "video"] as const;
export type ChangeAction = "stop" | "substitute" | "add" | "shift";

const dayFormat = new Intl.DateTimeFormat("en-CA", { timeZone: HOSPITAL_TZ, year: "numeric", month: "2-digit", day: "2-digit" });
const timeFormat = new Intl.DateTimeFormat("en-GB", { timeZone: HOSPITAL_TZ, hour: "2-digit", minute: "2-digit", hour12: false });

/** Today's date in the hospital's zone, "YYYY-MM-DD". */
export function todayLocal(now: Date = new Date()): string {
  return dayFormat.format(now);
}

function parseDay(day: string): Date {
  return new Date(day + "T00:00:00Z");
}

/** Calendar arithmetic on "YYYY-MM-DD" (no zone involved). */
export function addDays(day: string, n: number): string {
  const d = parseDay(day);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** The Monday of the ISO week of a day. */
export function mondayOf(day: string): string {
  const weekday = isoWeekday(day);
  return addDays(day, 1 - weekday);
}

/** ISO weekday: Monday 1 .. Sunday 7 (as the server's templates). */
export function isoWeekday(day: string): number {
  const w = parseDay(day).getUTCDay();
  return w === 0 ? 7 : w;
}

/** Every day from..to inclusive (at most `max`). */
export function daysBetween(from: string, to: string, max = 62): string[] {
  const out: string[] = [];
  for (let d = from; d <= to && out.length < max; d = addDays(d, 1)) out.push(d);
  return out;
}

/** "HH:mm" of an instant in the hospital's zone. */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : timeFormat.format(date);
}

/** "09:30:00" -> "09:30" (times of templates as the server writes them). */
export function hhmm(time: string | null | undefined): string {
  return time ? time.slice(0, 5) : "—";
}

/** "a,b, c" -> ["a","b","c"] for disease tags typed in one input. */
export function splitTags(text: string): string[] {
  return text
    .split(/[,，\s]+/)
    .map((x) => x.trim().toUpperCase())
    .filter(Boolean);
}

export function statusType(status: string): "success" | "info" | "danger" | "warning" {
  return status === "published" ? "success" : status === "stopped" ? "danger" : "info";
}

/** Which temporary changes the session still allows (stop until it ends; the others until it starts). */
export function allowedChanges(s: ClinicSession, now: number = Date.now()): Set<ChangeAction> {
  const out = new Set<ChangeAction>();
  if (s.status === "stopped") return out;
  const started = new Date(s.start_at).getTime() <= now;
  const ended = new Date(s.end_at).getTime() <= now;
  if (!ended) out.add("stop");
  if (!ended) out.add("add");
  if (!started) {
    out.add("substitute");
    out.add("shift");
  }
  return out;
}

/** "YYYY-MM-DD" of an instant in the hospital's zone. */
export function localDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dayFormat.format(date);
}

/** Held by another doctor than the one first scheduled (a substitution back to that doctor is not one). */
export function isSubstituted(s: ClinicSession): boolean {
  return s.substituted_from_id !== null && s.substituted_from_id !== s.doctor_id;
}
