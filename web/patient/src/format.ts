/** Dates: stored UTC, shown in Asia/Shanghai (CONVENTIONS.md), in the UI locale. */
import { currentLocale } from "@ihis/shared/i18n";

const ZONE = "Asia/Shanghai";

function parse(value: string | Date | null | undefined): Date | null {
  if (!value) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function formatDateTime(value: string | Date | null | undefined): string {
  const date = parse(value);
  if (!date) return "";
  return new Intl.DateTimeFormat(currentLocale(), {
    timeZone: ZONE,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }).format(date);
}

export function formatDate(value: string | Date | null | undefined): string {
  const date = parse(value);
  if (!date) return "";
  return new Intl.DateTimeFormat(currentLocale(), { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
}

/** Start and end of a session: "2026-11-22 09:00–11:30" in hospital time. */
export function formatPeriod(start: string, end: string): string {
  const s = parse(start);
  const e = parse(end);
  if (!s || !e) return "";
  const time = new Intl.DateTimeFormat(currentLocale(), { timeZone: ZONE, hour: "2-digit", minute: "2-digit", hour12: false });
  return `${formatDate(s)} ${time.format(s)}–${time.format(e)}`;
}

/** Weekday of a date in hospital time, in the UI locale ("周六" / "Sat"). */
export function formatWeekday(value: string | Date | null | undefined): string {
  const date = parse(value);
  if (!date) return "";
  return new Intl.DateTimeFormat(currentLocale(), { timeZone: ZONE, weekday: "short" }).format(date);
}

/** Today in hospital time as YYYY-MM-DD (the value of a date input). */
export function hospitalToday(offsetDays = 0): string {
  const date = new Date(Date.now() + offsetDays * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
}

/** "mm:ss" (or "h:mm:ss") left until `deadline`; "" once passed. */
export function formatCountdown(deadline: string | null | undefined, now: number): string {
  const end = parse(deadline);
  if (!end) return "";
  const left = Math.floor((end.getTime() - now) / 1000);
  if (left <= 0) return "";
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  const mmss = `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}
