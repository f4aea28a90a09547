import { visibleLine, type AuditEvent } from "@smith/core";
import { renderRow, renderTable, truncate } from "./table.ts";

const HEADERS = ["TIME", "ACTOR", "ACTION", "LOOP", "OUTCOME", "DETAIL"];
/** Column widths of a streamed audit table (`get audit -w`): an ISO time, a loop id. */
const STREAM_WIDTHS = [24, 28, 20, 26, 7];

function auditRow(e: AuditEvent): string[] {
  return [
    e.at,
    `${e.actor.type}/${e.actor.id}${e.actor.role ? ` (${e.actor.role})` : ""}`,
    e.action,
    e.loopId ?? "-",
    e.outcome,
    truncate(visibleLine([e.error, e.reason].filter(Boolean).join(": ")) || "-", 80),
  ];
}

/** `smithctl audit`: one row per event, oldest first, as the API returns them. */
export function auditTable(events: readonly AuditEvent[]): string {
  return renderTable(HEADERS, events.map(auditRow));
}

export function auditStreamHeader(): string {
  return renderRow(HEADERS, STREAM_WIDTHS);
}

export function auditStreamRow(e: AuditEvent): string {
  return renderRow(auditRow(e), STREAM_WIDTHS);
}
