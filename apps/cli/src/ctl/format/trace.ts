import type { RouterOutputs } from "@smith/client";
import { visibleLine } from "@smith/core";
import { auditTable } from "./audit.ts";
import { journalLine } from "./journal.ts";
import { formatUsd, renderTable } from "./table.ts";

type Trace = RouterOutputs["loops"]["trace"];

/**
 * `smithctl trace`: the loop's story from one read, in sections: the loop, its journal, handoffs,
 * overrides and audit events. Every value that came from a person or an agent is one visible line.
 */
export function traceText(t: Trace): string {
  const { loop } = t;
  const s = loop.status;
  const out: string[] = [];
  const field = (name: string, value: string) => out.push(`${(name + ":").padEnd(14)}${visibleLine(value)}`);
  out.push("LOOP");
  field("ID", loop.id);
  field("Title", loop.spec.title ?? "-");
  field("Repo", `${loop.spec.repo.url} (${loop.spec.repo.baseBranch})`);
  field("State", `${s.state}${s.reason ? ` (${s.reason})` : ""}${s.message ? `: ${s.message}` : ""}`);
  field("Attempt", `${s.attempt}, iteration ${s.iteration}, stories ${s.progress.done}/${s.progress.total}`);
  field("Cost", `${formatUsd(loop.cost.usd)} (${loop.cost.inputTokens} in / ${loop.cost.outputTokens} out tokens)`);
  field("Created", s.createdAt);
  if (s.finishedAt) field("Finished", s.finishedAt);

  out.push("", `JOURNAL (${t.journal.length} entries${t.journalMore ? ", older ones not shown: smithctl logs" : ""})`);
  if (t.journal.length === 0) out.push("<none>");
  for (const e of t.journal) out.push(journalLine(e));

  out.push("", `HANDOFFS (${t.handoffs.length})`);
  if (t.handoffs.length === 0) out.push("<none>");
  else
    out.push(
      renderTable(
        ["ATTEMPT", "AT", "VALIDATION", "DONE", "REMAINING", "NEXT STEP"],
        t.handoffs.map((h) => [
          String(h.attempt),
          h.createdAt,
          h.validation.state,
          String(h.done.length),
          String(h.remaining.length),
          visibleLine(h.nextSteps[0] ?? "-"),
        ]),
      ),
    );

  out.push("", `OVERRIDES (${t.overrides.length})`);
  if (t.overrides.length === 0) out.push("<none>");
  else
    out.push(
      renderTable(
        ["AT", "ACTOR", "FROM", "TO", "REASON"],
        t.overrides.map((o) => [o.at, `${o.actor.type}/${o.actor.id}`, o.from, o.to, visibleLine(o.reason)]),
      ),
    );

  out.push("", `AUDIT (${t.audit.length}${t.auditNextCursor ? ", more: smithctl get audit --loop " + loop.id : ""})`);
  out.push(t.audit.length === 0 ? "<none>" : auditTable(t.audit));
  return out.join("\n");
}
