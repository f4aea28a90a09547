import { visibleLine, workBranchOf, type Loop } from "@smith/core";
import { Box, Text } from "ink";
import React from "react";
import { LEVEL_COLORS, STATE_COLORS, clock, formatAge, formatCost, journalLine, progressBar } from "../format.ts";
import { journalWindow } from "../journalView.ts";
import { journalHeight, type TuiState } from "../state.ts";
import { connectionLabel } from "./Header.ts";

const h = React.createElement;

/**
 * A loop's summary (8 rows) above its live journal. Every value that came from a person or an
 * agent (title, repository, branches, message, question, model) is shown with control
 * characters escaped.
 */
export function LoopDetail({ state, loopId }: { state: TuiState; loopId: string }): React.ReactElement {
  const loop = state.loops.get(loopId);
  return h(
    Box,
    { flexDirection: "column" },
    h(
      Box,
      { flexDirection: "column", height: 8 },
      loop ? h(Summary, { loop, now: state.now }) : h(Text, { color: "red" }, `loop ${loopId} was deleted`),
    ),
    h(Journal, { state }),
  );
}

function Field({ label, children }: { label: string; children?: React.ReactNode }): React.ReactElement {
  return h(Text, { wrap: "truncate" }, h(Text, { dimColor: true }, label.padEnd(10)), children);
}

function Summary({ loop, now }: { loop: Loop; now: number }): React.ReactElement {
  const s = loop.status;
  const at = (iso: string | undefined) =>
    iso ? `${clock(Date.parse(iso))} (${formatAge(now - Date.parse(iso))} ago)` : "-";
  const limits = loop.spec.limits;
  return h(
    Box,
    { flexDirection: "column" },
    h(Field, { label: "id" }, loop.id),
    h(Field, { label: "title" }, visibleLine(loop.spec.title ?? "-")),
    h(
      Field,
      { label: "repo" },
      visibleLine(`${loop.spec.repo.url}  ${loop.spec.repo.baseBranch} → ${workBranchOf(loop)}`),
    ),
    h(
      Field,
      { label: "state" },
      h(Text, { color: STATE_COLORS[s.state], bold: true }, s.state),
      s.reason ? ` (${s.reason})` : "",
      // A waiting loop's question is what the person pressing `a` needs to read.
      s.question
        ? `  asks: ${visibleLine(s.question.split(/\r?\n/)[0] ?? "")}`
        : s.message
          ? `  ${visibleLine(s.message.split(/\r?\n/)[0] ?? "")}`
          : "",
    ),
    h(
      Field,
      { label: "progress" },
      progressBar(s.progress.done, s.progress.total, 20),
      `   iteration ${s.iteration - s.iterationBase}/${limits.maxIterations}   attempt ${s.attempt - s.attemptBase}/${limits.maxAttempts}`,
    ),
    h(
      Field,
      { label: "cost" },
      `${formatCost(loop.cost.usd)}${limits.maxCostUsd ? ` of ${formatCost(limits.maxCostUsd)}` : ""}   tokens in ${loop.cost.inputTokens} / out ${loop.cost.outputTokens}   agent ${loop.spec.agent.provider}${loop.spec.agent.model ? ` ${visibleLine(loop.spec.agent.model)}` : ""}`,
    ),
    h(
      Field,
      { label: "times" },
      `created ${at(s.createdAt)}   started ${at(s.startedAt)}   updated ${at(s.updatedAt)}`,
    ),
    h(
      Field,
      { label: "steering" },
      loop.steering.length === 0 ? "no message pending" : `${loop.steering.length} message(s) pending`,
    ),
  );
}

function Journal({ state }: { state: TuiState }): React.ReactElement | null {
  const journal = state.journal;
  if (!journal) return null;
  const height = journalHeight(state);
  const win = journalWindow(journal, height);
  const link =
    state.journalConnection.status === "connected" && state.journalConnection.lostAt === undefined
      ? undefined
      : connectionLabel(state.journalConnection, state.now);
  const position = journal.follow ? "following" : `paused, ${win.below} newer below (f follows)`;
  return h(
    Box,
    { flexDirection: "column" },
    h(
      Text,
      { wrap: "truncate" },
      h(Text, { bold: true }, "Journal "),
      h(Text, { color: journal.follow ? "green" : "yellow" }, position),
      h(
        Text,
        { dimColor: true },
        `   ${journal.entries.length} lines kept of ${journal.limit}${journal.dropped > 0 ? `, ${journal.dropped} older dropped` : ""}`,
      ),
      link ? h(Text, { color: link.color }, `   ${link.text}`) : "",
    ),
    h(
      Box,
      { flexDirection: "column", height },
      ...win.lines.map((e) => h(Text, { key: e.seq, wrap: "truncate", color: LEVEL_COLORS[e.level] }, journalLine(e))),
    ),
  );
}
