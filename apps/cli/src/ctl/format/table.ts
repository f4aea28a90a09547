import { visibleLine } from "@smith/core";

/**
 * kubectl-style plain tables: upper-case headers, columns padded and separated by three spaces.
 * Cells come from loops, journals and other people's input: each is shown as one visible line
 * (control characters escaped), so no cell can move the cursor or start a row of its own.
 */

const GAP = "   ";

/** A whole table, each column as wide as its widest cell. No trailing spaces. */
export function renderTable(headers: readonly string[], rawRows: readonly (readonly string[])[]): string {
  const rows = rawRows.map((r) => r.map(visibleLine));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [headers, ...rows].map((r) => renderRow(r, widths)).join("\n");
}

/**
 * One row with given column widths, for output that streams (`get loops --watch`): rows printed
 * later cannot widen the columns above them, so a longer cell just pushes the rest of its row.
 */
export function renderRow(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map(visibleLine)
    .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
    .join(GAP)
    .trimEnd();
}

/** Cuts a cell to `max` characters, marking the cut with an ellipsis. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(0, max - 1)) + "…";
}

/** kubectl's short ages: 45s, 12m, 5h, 3d, 2y. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 730) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

/** Dollars with cents; sub-cent amounts keep four decimals so that they do not read as free. */
export function formatUsd(usd: number): string {
  if (usd > 0 && usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

/** A short duration for limits: 4h, 30m, 90s, 1h30m. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts = [h ? `${h}h` : "", m ? `${m}m` : "", sec ? `${sec}s` : ""].filter(Boolean);
  return parts.length ? parts.join("") : "0s";
}
