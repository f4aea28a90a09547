import { visibleLine, workBranchOf, type Handoff, type Loop } from "@smith/core";
import { Box, Text } from "ink";
import React from "react";
import { LEVEL_COLORS, STATE_COLORS, clock, formatAge, formatCost, journalLine, progressBar } from "../format.ts";
import { entryMatches, journalWindow, matchCount } from "../journalView.ts";
import { journalHeight, storiesPanelHeight, type TuiState } from "../state.ts";
import { STORY_ROWS, storyRows, type StoryRow } from "../stories.ts";
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
    loop && storiesPanelHeight(state) > 0
      ? h(StoriesPanel, {
          loop,
          handoff: state.handoff?.loopId === loopId ? state.handoff.handoff : undefined,
          now: state.now,
        })
      : null,
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

const STORY_MARK: Record<string, { mark: string; color: string }> = {
  passed: { mark: "✓", color: "green" },
  done: { mark: "✓", color: "green" },
  failed: { mark: "✗", color: "red" },
  in_progress: { mark: "▸", color: "yellow" },
  open: { mark: "·", color: "gray" },
};

/**
 * The stories (PRD and evidence), the pull request and the latest handoff: a heading, at most
 * STORY_ROWS stories, one handoff line. Its height is `storiesPanelHeight`.
 */
function StoriesPanel({
  loop,
  handoff,
  now,
}: {
  loop: Loop;
  handoff: Handoff | undefined;
  now: number;
}): React.ReactElement {
  const rows = storyRows(loop);
  const passed = rows.filter((r) => r.state === "passed" || r.state === "done").length;
  const shown = rows.length > STORY_ROWS ? rows.slice(0, STORY_ROWS - 1) : rows;
  const pr = loop.status.pullRequest;
  return h(
    Box,
    { flexDirection: "column" },
    h(
      Text,
      { wrap: "truncate" },
      h(Text, { bold: true }, "Stories "),
      rows.length > 0 ? `${passed}/${rows.length} passed` : h(Text, { dimColor: true }, "none known yet"),
      pr ? h(Text, null, "   PR ", h(Text, { color: "cyan" }, visibleLine(pr.url))) : "",
    ),
    ...shown.map((r) => h(StoryLine, { key: r.id, row: r })),
    rows.length > STORY_ROWS
      ? h(Text, { key: "more", dimColor: true }, `  … ${rows.length - shown.length} more`)
      : null,
    handoff ? h(HandoffLine, { handoff, now }) : null,
  );
}

function StoryLine({ row }: { row: StoryRow }): React.ReactElement {
  const { mark, color } = STORY_MARK[row.state] ?? { mark: "?", color: "gray" };
  const gates = row.gates ? `  gates ${row.gates.passed}/${row.gates.total}` : "";
  const commit = row.commit ? `  commit ${visibleLine(row.commit.slice(0, 10))}` : "";
  const failure = row.failure ? `  ${visibleLine(row.failure.split(/\r?\n/)[0] ?? "")}` : "";
  return h(
    Text,
    { wrap: "truncate" },
    h(Text, { color }, `${mark} `),
    visibleLine(row.id).padEnd(8),
    " ",
    h(Text, { color }, row.state.padEnd(11)),
    visibleLine(row.title),
    h(Text, { dimColor: true }, `${gates}${commit}`),
    row.failure ? h(Text, { color: "red" }, failure) : "",
  );
}

/** `Handoff #2 12:03:04 (5m ago) passed · done 2 · remaining 1 · 3 files changed, … · next: …` (#: the attempt). */
function HandoffLine({ handoff, now }: { handoff: Handoff; now: number }): React.ReactElement {
  const at = Date.parse(handoff.createdAt);
  const diff = handoff.diffSummary.split(/\r?\n/).find((l) => l.trim()) ?? "";
  const next = handoff.nextSteps[0] ?? handoff.remaining[0];
  const parts = [
    `done ${handoff.done.length}`,
    `remaining ${handoff.remaining.length}`,
    ...(diff ? [visibleLine(diff.trim())] : []),
    ...(next ? [`next: ${visibleLine(next.split(/\r?\n/)[0] ?? "")}`] : []),
  ];
  return h(
    Text,
    { wrap: "truncate" },
    h(Text, { bold: true }, "Handoff "),
    h(Text, { dimColor: true }, `#${handoff.attempt} ${clock(at)} (${formatAge(now - at)} ago) `),
    `${handoff.validation.state} · ${parts.join(" · ")}`,
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
      journal.search
        ? h(Text, { color: "yellow" }, `   /${visibleLine(journal.search)} ${matchCount(journal)} matching (n/N)`)
        : "",
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
      ...win.lines.map((e) =>
        h(
          Text,
          {
            key: e.seq,
            wrap: "truncate",
            color: entryMatches(e, journal.search) ? "yellow" : LEVEL_COLORS[e.level],
            inverse: e.seq === journal.matchSeq,
          },
          journalLine(e),
        ),
      ),
    ),
  );
}
