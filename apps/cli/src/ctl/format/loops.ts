import { visibleLine, type Loop } from "@smith/core";
import { formatAge, formatUsd, renderRow, renderTable, truncate } from "./table.ts";

export type LoopColumns = "table" | "wide";

const HEADERS = ["ID", "TITLE/REPO", "STATE", "REASON", "PROGRESS", "ITER", "ATTEMPT", "COST", "AGE"];
const WIDE_HEADERS = [...HEADERS, "PRIORITY", "KEY", "AGENT", "EXECUTOR", "PR"];
/** Column widths for streamed rows (`--watch`), wide enough for the usual values. */
const STREAM_WIDTHS = [26, 40, 10, 22, 8, 4, 7, 8, 5, 8, 30, 7, 24, 0];
const TITLE_WIDTH = 40;

function loopHeaders(columns: LoopColumns): string[] {
  return columns === "wide" ? WIDE_HEADERS : HEADERS;
}

/** One loop's cells: `now` makes AGE testable. */
export function loopRow(loop: Loop, columns: LoopColumns, now: Date): string[] {
  const s = loop.status;
  const row = [
    loop.id,
    truncate(visibleLine(loop.spec.title ?? loop.spec.repo.url), TITLE_WIDTH),
    s.state,
    s.reason ?? "-",
    `${s.progress.done}/${s.progress.total}`,
    String(s.iteration),
    String(s.attempt),
    formatUsd(loop.cost.usd),
    formatAge(now.getTime() - Date.parse(s.createdAt)),
  ];
  if (columns === "wide") {
    row.push(
      String(loop.priority),
      loop.concurrencyKey,
      loop.spec.agent.provider,
      s.executor ? `${s.executor.kind}/${s.executor.id}` : "-",
      s.pullRequest?.url ?? "-",
    );
  }
  return row;
}

export function loopTable(loops: readonly Loop[], columns: LoopColumns, now: Date): string {
  return renderTable(
    loopHeaders(columns),
    loops.map((l) => loopRow(l, columns, now)),
  );
}

/** The header line of a streamed loop table. */
export function loopStreamHeader(columns: LoopColumns): string {
  return renderRow(loopHeaders(columns), STREAM_WIDTHS);
}

/** A streamed row for a changed loop. */
export function loopStreamRow(loop: Loop, columns: LoopColumns, now: Date): string {
  return renderRow(loopRow(loop, columns, now), STREAM_WIDTHS);
}

/** A streamed row for a deleted loop: only its id is known. */
export function deletedLoopStreamRow(id: string, columns: LoopColumns): string {
  const cells = loopHeaders(columns).map(() => "-");
  cells[0] = id;
  cells[2] = "deleted";
  return renderRow(cells, STREAM_WIDTHS);
}
