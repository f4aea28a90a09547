import { visibleLine } from "@smith/core";
import { renderTable, truncate } from "./table.ts";

/** A `loops.createBatch` result item, as far as the table needs it. */
export type BatchItemResult =
  | { index: number; ok: true; created: boolean; loop: { id: string } }
  | { index: number; ok: false; error: { code: string; message: string } };

/** One row per item, in file order: created, existing (idempotency key matched) or failed. */
export function batchResultTable(results: readonly BatchItemResult[]): string {
  return renderTable(
    ["INDEX", "ID", "RESULT", "MESSAGE"],
    results.map((r) =>
      r.ok
        ? [String(r.index), r.loop.id, r.created ? "created" : "exists", "-"]
        : [String(r.index), "-", "failed", truncate(visibleLine(`${r.error.code}: ${r.error.message}`), 120)],
    ),
  );
}

export function batchSummary(results: readonly BatchItemResult[]): string {
  const failed = results.filter((r) => !r.ok).length;
  const created = results.filter((r) => r.ok && r.created).length;
  return `${results.length} loops: ${created} created, ${results.length - created - failed} existing, ${failed} failed`;
}
