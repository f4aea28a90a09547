import { visibleLine, type AuditEvent } from "@smith/core";
import { Box, Text } from "ink";
import React from "react";
import { clock, fit, formatCost, loopName, shortId } from "../format.ts";
import { tableHeight, type Fetched, type TuiState } from "../state.ts";

const h = React.createElement;

/** Shown until the first answer, or with the API's error. */
function pending<T>(fetched: Fetched<T> | undefined, what: string): React.ReactElement | undefined {
  if (!fetched) return h(Text, { dimColor: true }, `loading ${what}…`);
  if ("error" in fetched) return h(Text, { color: "red", wrap: "truncate" }, `${what}: ${visibleLine(fetched.error)}`);
  return undefined;
}

const AUDIT_COLUMNS = { at: 8, outcome: 7, action: 22, loop: 8, actor: 16 } as const;

/** `:audit`: the last day's audit events, newest first, one row each; refreshed every 5 s. */
export function AuditView({ state }: { state: TuiState }): React.ReactElement {
  const wait = pending(state.audit, "audit.list");
  if (wait || !state.audit || "error" in state.audit) return h(Box, { flexDirection: "column" }, wait);
  const events = state.audit.value;
  const height = tableHeight(state);
  return h(
    Box,
    { flexDirection: "column" },
    h(
      Text,
      { bold: true, wrap: "truncate" },
      [
        fit("TIME", AUDIT_COLUMNS.at),
        fit("OUTCOME", AUDIT_COLUMNS.outcome),
        fit("ACTION", AUDIT_COLUMNS.action),
        fit("LOOP", AUDIT_COLUMNS.loop),
        fit("ACTOR", AUDIT_COLUMNS.actor),
        "REASON / ERROR",
      ].join(" "),
    ),
    h(Text, { dimColor: true }, `${events.length} events in the last day, newest first`),
    events.length === 0 ? h(Text, { dimColor: true }, "no audit event in the last day") : null,
    ...events.slice(0, height - 1).map((e) => h(AuditRow, { key: e.id, event: e })),
  );
}

function AuditRow({ event }: { event: AuditEvent }): React.ReactElement {
  const actor = `${event.actor.type}:${event.actor.id}`;
  return h(
    Text,
    { wrap: "truncate" },
    fit(clock(Date.parse(event.at)), AUDIT_COLUMNS.at),
    " ",
    h(Text, { color: event.outcome === "ok" ? "green" : "red" }, fit(event.outcome, AUDIT_COLUMNS.outcome)),
    " ",
    fit(visibleLine(event.action), AUDIT_COLUMNS.action),
    " ",
    fit(event.loopId ? shortId(event.loopId) : "-", AUDIT_COLUMNS.loop),
    " ",
    fit(visibleLine(actor), AUDIT_COLUMNS.actor),
    " ",
    visibleLine([event.reason, event.error].filter(Boolean).join(" · ") || "-"),
  );
}

/** `:cost`: the totals (`cost.summary`) and the costliest loops (from the live loops), one row each. */
export function CostView({ state }: { state: TuiState }): React.ReactElement {
  const wait = pending(state.cost, "cost.summary");
  const totals = state.cost && "value" in state.cost ? state.cost.value : undefined;
  const loops = [...state.loops.values()].sort((a, b) => b.cost.usd - a.cost.usd || (a.id < b.id ? 1 : -1));
  const height = Math.max(1, tableHeight(state) - 2);
  return h(
    Box,
    { flexDirection: "column" },
    totals
      ? h(
          Text,
          { wrap: "truncate" },
          h(Text, { bold: true }, `Total ${formatCost(totals.usd)}`),
          `   ${totals.loops} loops   tokens in ${totals.inputTokens} / out ${totals.outputTokens}`,
        )
      : (wait ?? null),
    h(
      Text,
      { bold: true, wrap: "truncate" },
      [
        fit("ID", 8),
        fit("COST", 9),
        fit("BUDGET", 9),
        fit("TOKENS IN", 11),
        fit("TOKENS OUT", 11),
        "TITLE / REPO",
      ].join(" "),
    ),
    ...loops
      .slice(0, height)
      .map((l) =>
        h(
          Text,
          { key: l.id, wrap: "truncate" },
          [
            fit(shortId(l.id), 8),
            fit(formatCost(l.cost.usd), 9),
            fit(l.spec.limits.maxCostUsd ? formatCost(l.spec.limits.maxCostUsd) : "-", 9),
            fit(String(l.cost.inputTokens), 11),
            fit(String(l.cost.outputTokens), 11),
            loopName(l),
          ].join(" "),
        ),
      ),
  );
}
