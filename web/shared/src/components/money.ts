/** Money is integer fen (DOMAIN.md §7). `formatFen(1250)` -> "¥12.50"; `formatFen(-5)` -> "-¥0.05". */
export function formatFen(fen: number | null | undefined, opts: { symbol?: string; grouping?: boolean } = {}): string {
  if (fen === null || fen === undefined || !Number.isFinite(fen)) return "—";
  const symbol = opts.symbol ?? "¥";
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(Math.round(fen));
  let yuan = String(Math.floor(abs / 100));
  if (opts.grouping ?? true) yuan = yuan.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const cents = String(abs % 100).padStart(2, "0");
  return `${sign}${symbol}${yuan}.${cents}`;
}
