import { visibleLine, workBranchOf, type Handoff, type Loop } from "@smith/core";
import { Box, Text } from "ink";
import type React from "react";
import { LEVEL_COLORS, STATE_COLORS, clock, formatAge, formatCost, journalLine, progressBar } from "../format.ts";
import { html } from "../html.ts";
import { entryMatches, journalWindow, matchCount } from "../journalView.ts";
import { journalHeight, storiesPanelHeight, type TuiState } from "../state.ts";
import { STORY_ROWS, storyRows, type StoryRow } from "../stories.ts";
import { connectionLabel } from "./Header.ts";

/**
 * A loop's summary (8 rows) above its live journal. Every value that came from a person or an
 * agent (title, repository, branches, message, question, model) is shown with control
 * characters escaped.
 */
export function LoopDetail({ state, loopId }: { state: TuiState; loopId: string }): React.ReactElement {
  const loop = state.loops.get(loopId);
  const handoff = state.handoff?.loopId === loopId ? state.handoff.handoff : undefined;
  return html`
    <${Box} flexDirection="column">
      <${Box} flexDirection="column" height=${8}>
        ${
          loop
            ? html`<${Summary} loop=${loop} now=${state.now} />`
            : html`<${Text} color="red">loop ${loopId} was deleted</${Text}>`
        }
      </${Box}>
      ${
        loop && storiesPanelHeight(state) > 0
          ? html`<${StoriesPanel} loop=${loop} handoff=${handoff} now=${state.now} />`
          : null
      }
      <${Journal} state=${state} />
    </${Box}>
  `;
}

function Field({ label, children }: { label: string; children?: React.ReactNode }): React.ReactElement {
  return html`<${Text} wrap="truncate"><${Text} dimColor>${label.padEnd(10)}</${Text}>${children}</${Text}>`;
}

function Summary({ loop, now }: { loop: Loop; now: number }): React.ReactElement {
  const s = loop.status;
  const at = (iso: string | undefined) =>
    iso ? `${clock(Date.parse(iso))} (${formatAge(now - Date.parse(iso))} ago)` : "-";
  const limits = loop.spec.limits;
  // A waiting loop's question is what the person pressing `a` needs to read.
  const line = s.question
    ? `  asks: ${visibleLine(s.question.split(/\r?\n/)[0] ?? "")}`
    : s.message
      ? `  ${visibleLine(s.message.split(/\r?\n/)[0] ?? "")}`
      : "";
  const model = loop.spec.agent.model ? ` ${visibleLine(loop.spec.agent.model)}` : "";
  return html`
    <${Box} flexDirection="column">
      <${Field} label="id">${loop.id}</${Field}>
      <${Field} label="title">${visibleLine(loop.spec.title ?? "-")}</${Field}>
      <${Field} label="repo">
        ${visibleLine(`${loop.spec.repo.url}  ${loop.spec.repo.baseBranch} → ${workBranchOf(loop)}`)}
      </${Field}>
      <${Field} label="state">
        <${Text} color=${STATE_COLORS[s.state]} bold>${s.state}</${Text}>
        ${s.reason ? ` (${s.reason})` : ""}
        ${line}
      </${Field}>
      <${Field} label="progress">
        ${progressBar(s.progress.done, s.progress.total, 20)}
        ${`   iteration ${s.iteration - s.iterationBase}/${limits.maxIterations}`}
        ${`   attempt ${s.attempt - s.attemptBase}/${limits.maxAttempts}`}
      </${Field}>
      <${Field} label="cost">
        ${formatCost(loop.cost.usd)}${limits.maxCostUsd ? ` of ${formatCost(limits.maxCostUsd)}` : ""}
        ${`   tokens in ${loop.cost.inputTokens} / out ${loop.cost.outputTokens}`}
        ${`   agent ${loop.spec.agent.provider}${model}`}
      </${Field}>
      <${Field} label="times">
        created ${at(s.createdAt)}   started ${at(s.startedAt)}   updated ${at(s.updatedAt)}
      </${Field}>
      <${Field} label="steering">
        ${loop.steering.length === 0 ? "no message pending" : `${loop.steering.length} message(s) pending`}
      </${Field}>
    </${Box}>
  `;
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
  return html`
    <${Box} flexDirection="column">
      <${Text} wrap="truncate">
        <${Text} bold>Stories${" "}</${Text}>
        ${rows.length > 0 ? `${passed}/${rows.length} passed` : html`<${Text} dimColor>none known yet</${Text}>`}
        ${pr ? html`<${Text}>${"   PR "}<${Text} color="cyan">${visibleLine(pr.url)}</${Text}></${Text}>` : ""}
      </${Text}>
      ${shown.map((r) => html`<${StoryLine} key=${r.id} row=${r} />`)}
      ${
        rows.length > STORY_ROWS
          ? html`<${Text} key="more" dimColor>  … ${rows.length - shown.length} more</${Text}>`
          : null
      }
      ${handoff ? html`<${HandoffLine} handoff=${handoff} now=${now} />` : null}
    </${Box}>
  `;
}

function StoryLine({ row }: { row: StoryRow }): React.ReactElement {
  const { mark, color } = STORY_MARK[row.state] ?? { mark: "?", color: "gray" };
  const gates = row.gates ? `  gates ${row.gates.passed}/${row.gates.total}` : "";
  const commit = row.commit ? `  commit ${visibleLine(row.commit.slice(0, 10))}` : "";
  const failure = row.failure ? `  ${visibleLine(row.failure.split(/\r?\n/)[0] ?? "")}` : "";
  return html`
    <${Text} wrap="truncate">
      <${Text} color=${color}>${mark}${" "}</${Text}>
      ${visibleLine(row.id).padEnd(8)}${" "}
      <${Text} color=${color}>${row.state.padEnd(11)}</${Text}>
      ${visibleLine(row.title)}
      <${Text} dimColor>${gates}${commit}</${Text}>
      ${row.failure ? html`<${Text} color="red">${failure}</${Text}>` : ""}
    </${Text}>
  `;
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
  return html`
    <${Text} wrap="truncate">
      <${Text} bold>Handoff${" "}</${Text}>
      <${Text} dimColor>#${handoff.attempt} ${clock(at)} (${formatAge(now - at)} ago)${" "}</${Text}>
      ${handoff.validation.state} · ${parts.join(" · ")}
    </${Text}>
  `;
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
  const dropped = journal.dropped > 0 ? `, ${journal.dropped} older dropped` : "";
  return html`
    <${Box} flexDirection="column">
      <${Text} wrap="truncate">
        <${Text} bold>Journal${" "}</${Text}>
        <${Text} color=${journal.follow ? "green" : "yellow"}>${position}</${Text}>
        ${
          journal.search
            ? html`
              <${Text} color="yellow">
                ${"   /"}${visibleLine(journal.search)} ${matchCount(journal)} matching (n/N)
              </${Text}>
            `
            : ""
        }
        <${Text} dimColor>${"   "}${journal.entries.length} lines kept of ${journal.limit}${dropped}</${Text}>
        ${link ? html`<${Text} color=${link.color}>${"   "}${link.text}</${Text}>` : ""}
      </${Text}>
      <${Box} flexDirection="column" height=${height}>
        ${win.lines.map(
          (e) => html`
            <${Text}
              key=${e.seq}
              wrap="truncate"
              color=${entryMatches(e, journal.search) ? "yellow" : LEVEL_COLORS[e.level]}
              inverse=${e.seq === journal.matchSeq}
            >
              ${journalLine(e)}
            </${Text}>
          `,
        )}
      </${Box}>
    </${Box}>
  `;
}
