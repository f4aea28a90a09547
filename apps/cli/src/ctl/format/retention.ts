import type { RouterOutputs } from "@smith/client";
import { visibleLine } from "@smith/core";
import { renderTable } from "./table.ts";

type DeleteResult = RouterOutputs["loops"]["delete"]["results"][number];
type CleanupReport = RouterOutputs["loops"]["cleanup"];

/** `smithctl delete loop`: one line per id, kubectl's `loop/<id> deleted`; skips say why. */
export function deleteLines(results: readonly DeleteResult[]): { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  for (const r of results) {
    if (r.outcome === "deleted") stdout.push(`loop/${r.id} deleted`);
    else if (r.outcome === "skipped") stderr.push(`loop/${r.id} skipped: ${visibleLine(r.why)}`);
    else stderr.push(`loop/${r.id} not found`);
  }
  return { stdout, stderr };
}

/** `smithctl cleanup`: what was (or, with --dry-run, would be) deleted, then what was skipped. */
export function cleanupText(report: CleanupReport): { stdout: string[]; stderr: string[] } {
  const verb = report.dryRun ? "would delete" : "deleted";
  const stdout: string[] = [];
  if (report.deleted.length > 0)
    stdout.push(
      renderTable(
        ["LOOP", "STATE", "SINCE", "ACTION"],
        report.deleted.map((d) => [d.id, d.state, d.since, verb]),
      ),
    );
  const stderr = report.skipped.map((s) => `loop/${s.id} skipped (${s.state} since ${s.since}): ${visibleLine(s.why)}`);
  stderr.push(
    `${report.deleted.length} loop${report.deleted.length === 1 ? "" : "s"} ${verb}${report.dryRun ? " (dry run: nothing changed)" : ""}` +
      (report.skipped.length ? `, ${report.skipped.length} skipped` : "") +
      (report.capped ? "; the limit was reached: run again for the rest" : ""),
  );
  return { stdout, stderr };
}
