import { visibleLine, type AuditEvent, type Loop } from "@smith/core";
import { Box, Text } from "ink";
import type React from "react";
import { clock, fit, formatCost, loopName, shortId } from "../format.ts";
import { html } from "../html.ts";
import { tableHeight, type Fetched, type TuiState } from "../state.ts";

/** Shown until the first answer, or with the API's error. */
function pending<T>(fetched: Fetched<T> | undefined, what: string): React.ReactElement | undefined {
  if (!fetched) return html`<${Text} dimColor>loading ${what}…</${Text}>`;
  if ("error" in fetched)
    return html`<${Text} color="red" wrap="truncate">${what}: ${visibleLine(fetched.error)}</${Text}>`;
  return undefined;
}

const AUDIT_COLUMNS = { at: 8, outcome: 7, action: 22, loop: 8, actor: 16 } as const;

/** `:audit`: the last day's audit events, newest first, one row each; refreshed every 5 s. */
export function AuditView({ state }: { state: TuiState }): React.ReactElement {
  const wait = pending(state.audit, "audit.list");
  if (wait || !state.audit || "error" in state.audit) return html`<${Box} flexDirection="column">${wait}</${Box}>`;
  const events = state.audit.value;
  const height = tableHeight(state);
  const heading = [
    fit("TIME", AUDIT_COLUMNS.at),
    fit("OUTCOME", AUDIT_COLUMNS.outcome),
    fit("ACTION", AUDIT_COLUMNS.action),
    fit("LOOP", AUDIT_COLUMNS.loop),
    fit("ACTOR", AUDIT_COLUMNS.actor),
    "REASON / ERROR",
  ].join(" ");
  return html`
    <${Box} flexDirection="column">
      <${Text} bold wrap="truncate">${heading}</${Text}>
      <${Text} dimColor>${events.length} events in the last day, newest first</${Text}>
      ${events.length === 0 ? html`<${Text} dimColor>no audit event in the last day</${Text}>` : null}
      ${events.slice(0, height - 1).map((e) => html`<${AuditRow} key=${e.id} event=${e} />`)}
    </${Box}>
  `;
}

function AuditRow({ event }: { event: AuditEvent }): React.ReactElement {
  const actor = `${event.actor.type}:${event.actor.id}`;
  const why = [event.reason, event.error].filter(Boolean).join(" · ") || "-";
  return html`
    <${Text} wrap="truncate">
      ${fit(clock(Date.parse(event.at)), AUDIT_COLUMNS.at)}${" "}
      <${Text} color=${event.outcome === "ok" ? "green" : "red"}>${fit(event.outcome, AUDIT_COLUMNS.outcome)}</${Text}>
      ${" "}${fit(visibleLine(event.action), AUDIT_COLUMNS.action)}
      ${" "}${fit(event.loopId ? shortId(event.loopId) : "-", AUDIT_COLUMNS.loop)}
      ${" "}${fit(visibleLine(actor), AUDIT_COLUMNS.actor)}
      ${" "}${visibleLine(why)}
    </${Text}>
  `;
}

/** `:cost`: the totals (`cost.summary`) and the costliest loops (from the live loops), one row each. */
export function CostView({ state }: { state: TuiState }): React.ReactElement {
  const wait = pending(state.cost, "cost.summary");
  const totals = state.cost && "value" in state.cost ? state.cost.value : undefined;
  const loops = [...state.loops.values()].sort((a, b) => b.cost.usd - a.cost.usd || (a.id < b.id ? 1 : -1));
  const height = Math.max(1, tableHeight(state) - 2);
  const heading = [
    fit("ID", 8),
    fit("COST", 9),
    fit("BUDGET", 9),
    fit("TOKENS IN", 11),
    fit("TOKENS OUT", 11),
    "TITLE / REPO",
  ].join(" ");
  const row = (l: Loop) =>
    [
      fit(shortId(l.id), 8),
      fit(formatCost(l.cost.usd), 9),
      fit(l.spec.limits.maxCostUsd ? formatCost(l.spec.limits.maxCostUsd) : "-", 9),
      fit(String(l.cost.inputTokens), 11),
      fit(String(l.cost.outputTokens), 11),
      loopName(l),
    ].join(" ");
  return html`
    <${Box} flexDirection="column">
      ${
        totals
          ? html`
            <${Text} wrap="truncate">
              <${Text} bold>Total ${formatCost(totals.usd)}</${Text}>
              ${"   "}${totals.loops} loops   tokens in ${totals.inputTokens} / out ${totals.outputTokens}
            </${Text}>
          `
          : (wait ?? null)
      }
      <${Text} bold wrap="truncate">${heading}</${Text}>
      ${loops.slice(0, height).map((l) => html`<${Text} key=${l.id} wrap="truncate">${row(l)}</${Text}>`)}
    </${Box}>
  `;
}
