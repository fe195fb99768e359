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
