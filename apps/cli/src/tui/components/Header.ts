import { LOOP_STATES, visibleLine } from "@smith/core";
import { Box, Text } from "ink";
import React from "react";
import { STATE_COLORS, clock, formatAge, shortId } from "../format.ts";
import { RECONNECTED_NOTICE_MS, countsByState, type ClusterInfo, type Connection, type TuiState } from "../state.ts";

const h = React.createElement;

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
  return h(
    Box,
    { flexDirection: "column", height: 4 },
    h(
      Box,
      { justifyContent: "space-between" },
      h(
        Text,
        { wrap: "truncate" },
        h(Text, { bold: true, color: "magenta" }, "smith"),
        "  context ",
        h(Text, { bold: true }, visibleLine(context)),
        "  api ",
        h(Text, { color: "cyan" }, visibleLine(url)),
      ),
      h(ConnectionBadge, { connection: state.connection, now: state.now }),
    ),
    h(
      Text,
      { wrap: "truncate" },
      h(Text, { bold: true }, `${state.loops.size} ${state.loops.size === 1 ? "loop" : "loops"}`),
      ...LOOP_STATES.map((s) => h(Text, { key: s }, "  ", h(Text, { color: STATE_COLORS[s] }, s), ` ${counts[s]}`)),
    ),
    h(
      Box,
      { justifyContent: "space-between" },
      h(
        Text,
        { wrap: "truncate" },
        h(Text, { bold: true }, crumb),
        state.filter && state.view.kind === "table"
          ? h(Text, { color: "yellow" }, `  filter /${visibleLine(state.filter)}`)
          : "",
      ),
      h(ClusterBadge, { cluster: state.cluster }),
    ),
    h(Text, { dimColor: true, wrap: "truncate" }, "─".repeat(Math.max(0, state.columns))),
  );
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
  return h(Text, { color, wrap: "truncate" }, text);
}

/** `schedulers 2  queue 5`; a scheduler count of 0 is red (nothing will run). */
function ClusterBadge({ cluster }: { cluster: ClusterInfo | undefined }): React.ReactElement {
  if (!cluster) return h(Text, { dimColor: true }, "schedulers …  queue …");
  if ("error" in cluster)
    return h(Text, { color: "red", wrap: "truncate" }, `schedulers ?  queue ? (${visibleLine(cluster.error)})`);
  return h(
    Text,
    { wrap: "truncate" },
    "schedulers ",
    h(Text, { bold: true, color: cluster.schedulers === 0 ? "red" : "green" }, String(cluster.schedulers)),
    "  queue ",
    h(Text, { bold: true }, String(cluster.queueDepth)),
  );
}
