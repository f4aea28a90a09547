import { visibleLine, type AuditEvent } from "@smith/core";
import { renderTable, truncate } from "./table.ts";

/** `smithctl audit`: one row per event, oldest first, as the API returns them. */
export function auditTable(events: readonly AuditEvent[]): string {
  return renderTable(
    ["TIME", "ACTOR", "ACTION", "LOOP", "OUTCOME", "DETAIL"],
    events.map((e) => [
      e.at,
      `${e.actor.type}/${e.actor.id}${e.actor.role ? ` (${e.actor.role})` : ""}`,
      e.action,
      e.loopId ?? "-",
      e.outcome,
      truncate(visibleLine([e.error, e.reason].filter(Boolean).join(": ")) || "-", 80),
    ]),
  );
}
