/** Display formats: times in Asia/Shanghai (the hospital's zone), money from integer fen. */
import { formatFen } from "@ihis/shared/components";
import { i18n } from "./i18n";

export { formatFen };

export function formatTime(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return new Intl.DateTimeFormat(i18n.global.locale.value === "en" ? "en-GB" : "zh-CN", {
    timeZone: "Asia/Shanghai",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }).format(date);
}

/** Yuan (as typed in a form) to integer fen without float drift: "12.5" -> 1250. */
export function yuanToFen(yuan: number | string | null | undefined): number | null {
  if (yuan === null || yuan === undefined || yuan === "") return null;
  const text = typeof yuan === "number" ? yuan.toFixed(2) : yuan.trim();
  const m = /^(\d+)(?:\.(\d{0,2}))?$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

export function fenToYuan(fen: number | null | undefined): number | null {
  if (fen === null || fen === undefined) return null;
  return fen / 100;
}
