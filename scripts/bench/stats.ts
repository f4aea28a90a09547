import type { Measurement } from "./suite.ts";

/** The p-th percentile (0..100) of `values`, nearest-rank on a sorted copy. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank - 1, 0), sorted.length - 1)] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Half the range of `values` relative to their median, in percent: how far trials disagree. */
export function spreadPercent(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const mid = median(values);
  return mid === 0 ? 0 : ((Math.max(...values) - Math.min(...values)) / 2 / mid) * 100;
}

function formatNumber(value: number, unit: Measurement["unit"]): string {
  if (!Number.isFinite(value)) return "n/a";
  if (unit === "ms") return value.toFixed(value < 10 ? 2 : 1);
  if (unit === "ratio") return value.toFixed(2);
  // Small rates (an idle scheduler's requests per second) keep a decimal.
  return value < 10 ? value.toFixed(1) : Math.round(value).toLocaleString("en-US");
}

/** `value / baseline` for each baseline of `m` that was measured. */
export function ratios(m: Measurement, byId: ReadonlyMap<string, Measurement>): { vs: string; ratio: number }[] {
  const out: { vs: string; ratio: number }[] = [];
  for (const id of m.vs ?? []) {
    const base = byId.get(id);
    if (base && base.value > 0) out.push({ vs: id, ratio: m.value / base.value });
  }
  return out;
}

/** The report as a plain-text table: name, value, unit, ratio vs raw, note. */
export function formatTable(results: readonly Measurement[]): string {
  const byId = new Map(results.map((m) => [m.id, m]));
  const header = ["benchmark", "value", "unit", "vs raw", "how"];
  const rows = results.map((m) => [
    m.name,
    formatNumber(m.value, m.unit),
    m.unit,
    ratios(m, byId)
      .map((r) => `${r.ratio.toFixed(2)}× ${byId.get(r.vs)?.name.trim() ?? r.vs}`)
      .join(", "),
    m.note ?? "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 1 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
