import { LOOP_STATES, visibleLine } from "@smith/core";
import { Box, Text } from "ink";
import type React from "react";
import { STATE_COLORS, clock, formatAge, shortId } from "../format.ts";
import { html } from "../html.ts";
import { RECONNECTED_NOTICE_MS, countsByState, type ClusterInfo, type Connection, type TuiState } from "../state.ts";

export interface HeaderProps {
  state: TuiState;
  context: string;
  url: string;
}

/** Four rows: where we are connected and how well, the loops per state, the breadcrumb, a rule. */
export function Header({ state, context, url }: HeaderProps): React.ReactElement {
  const counts = countsByState(state.loops);
  const crumb =
    state.view.kind === "detail"
      ? `Loops ▸ ${shortId(state.view.loopId)}`
      : state.view.kind === "audit"
        ? "Audit"
        : state.view.kind === "cost"
          ? "Cost"
          : "Loops";
  return html`
    <${Box} flexDirection="column" height=${4}>
      <${Box} justifyContent="space-between">
        <${Text} wrap="truncate">
          <${Text} bold color="magenta">smith</${Text}>
          ${"  context "}
          <${Text} bold>${visibleLine(context)}</${Text}>
          ${"  api "}
          <${Text} color="cyan">${visibleLine(url)}</${Text}>
        </${Text}>
        <${ConnectionBadge} connection=${state.connection} now=${state.now} />
      </${Box}>
      <${Text} wrap="truncate">
        <${Text} bold>${state.loops.size} ${state.loops.size === 1 ? "loop" : "loops"}</${Text}>
        ${LOOP_STATES.map(
          (s) => html`<${Text} key=${s}>${"  "}<${Text} color=${STATE_COLORS[s]}>${s}</${Text}> ${counts[s]}</${Text}>`,
        )}
      </${Text}>
      <${Box} justifyContent="space-between">
        <${Text} wrap="truncate">
          <${Text} bold>${crumb}</${Text}>
          ${
            state.filter && state.view.kind === "table"
              ? html`<${Text} color="yellow">  filter /${visibleLine(state.filter)}</${Text}>`
              : ""
          }
        </${Text}>
        <${ClusterBadge} cluster=${state.cluster} />
      </${Box}>
      <${Text} dimColor wrap="truncate">${"─".repeat(Math.max(0, state.columns))}</${Text}>
    </${Box}>
  `;
}

/** `● connected`, `◌ reconnecting… lost 12:03:04 (5s)`, `● reconnected 12:03:10 (lost 12:03:04)`. */
export function connectionLabel(connection: Connection, now: number): { text: string; color: string } {
  switch (connection.status) {
    case "connecting":
      return { text: `○ connecting…${connection.error ? ` (${visibleLine(connection.error)})` : ""}`, color: "yellow" };
    case "reconnecting":
      return {
        text: `◌ reconnecting… lost ${clock(connection.lostAt)} (${formatAge(now - connection.lostAt)} ago)`,
        color: "red",
      };
    case "connected":
      if (connection.lostAt !== undefined && now - connection.since < RECONNECTED_NOTICE_MS) {
        return { text: `● reconnected ${clock(connection.since)} (lost ${clock(connection.lostAt)})`, color: "green" };
      }
      return { text: "● connected", color: "green" };
  }
}

function ConnectionBadge({ connection, now }: { connection: Connection; now: number }): React.ReactElement {
  const { text, color } = connectionLabel(connection, now);
  return html`<${Text} color=${color} wrap="truncate">${text}</${Text}>`;
}

/** `schedulers 2  queue 5`; a scheduler count of 0 is red (nothing will run). */
function ClusterBadge({ cluster }: { cluster: ClusterInfo | undefined }): React.ReactElement {
  if (!cluster) return html`<${Text} dimColor>schedulers …  queue …</${Text}>`;
  if ("error" in cluster) {
    return html`<${Text} color="red" wrap="truncate">schedulers ?  queue ? (${visibleLine(cluster.error)})</${Text}>`;
  }
  return html`
    <${Text} wrap="truncate">
      ${"schedulers "}
      <${Text} bold color=${cluster.schedulers === 0 ? "red" : "green"}>${cluster.schedulers}</${Text}>
      ${"  queue "}
      <${Text} bold>${cluster.queueDepth}</${Text}>
    </${Text}>
  `;
}
