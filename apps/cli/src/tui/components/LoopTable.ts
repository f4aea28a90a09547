import { visibleLine, type Loop } from "@smith/core";
import { Box, Text } from "ink";
import type React from "react";
import {
  STATE_COLORS,
  fit,
  fitStart,
  formatAge,
  formatCost,
  loopName,
  progressBar,
  repoName,
  shortId,
} from "../format.ts";
import { html } from "../html.ts";
import { selectedRow, tableHeight, visibleLoops, type TuiState } from "../state.ts";

/** Fixed column widths; the name column takes what is left. */
const COLUMNS = { id: 8, state: 10, progress: 16, iteration: 5, attempt: 3, cost: 8, age: 5 } as const;
const PROGRESS_BAR_CELLS = 10;

/** Wide terminals get a repository column of their own after a title column of at most this many. */
const WIDE_NAME = 40;

/** The widths of the title column and, when the terminal is wide enough, of the repository column. */
function flexWidths(columns: number): { name: number; repo: number } {
  const free = columns - 2 - Object.values(COLUMNS).reduce((a, b) => a + b + 1, 0) - 1;
  if (free >= WIDE_NAME + 1 + 20) return { name: WIDE_NAME, repo: free - WIDE_NAME - 1 };
  return { name: Math.max(8, free), repo: 0 };
}

/** The loops, one row each, the selected one highlighted; scrolls to keep the selection on screen. */
export function LoopTable({ state }: { state: TuiState }): React.ReactElement {
  const rows = visibleLoops(state);
  const height = tableHeight(state);
  const selected = selectedRow(state);
  const { name, repo } = flexWidths(state.columns);
  const heading =
    "  " +
    [
      fit("ID", COLUMNS.id),
      fit(repo > 0 ? "TITLE" : "TITLE / REPO", name),
      ...(repo > 0 ? [fit("REPO", repo)] : []),
      fit("STATE", COLUMNS.state),
      fit("PROGRESS", COLUMNS.progress),
      fit("ITER", COLUMNS.iteration),
      fit("ATT", COLUMNS.attempt),
      fit("COST", COLUMNS.cost),
      fit("AGE", COLUMNS.age),
    ].join(" ");
  const body: React.ReactElement[] = rows
    .slice(state.tableTop, state.tableTop + height)
    .map(
      (loop, i) => html`
        <${LoopRow}
          key=${loop.id}
          loop=${loop}
          selected=${state.tableTop + i === selected}
          name=${name}
          repo=${repo}
          now=${state.now}
        />
      `,
    );
  if (rows.length === 0) {
    const empty = !state.loaded
      ? "loading loops…"
      : state.filter
        ? `no loop matches /${state.filter} (esc clears the filter)`
        : "no loops yet: create one with smithctl or the API";
    body.push(html`<${Text} key="empty" dimColor>  ${empty}</${Text}>`);
  }
  return html`
    <${Box} flexDirection="column" height=${height + 1}>
      <${Text} bold wrap="truncate">${heading}</${Text}>
      ${body}
    </${Box}>
  `;
}

function LoopRow({
  loop,
  selected,
  name,
  repo,
  now,
}: {
  loop: Loop;
  selected: boolean;
  name: number;
  repo: number;
  now: number;
}): React.ReactElement {
  const s = loop.status;
  const done = s.progress.total > 0 && s.progress.done === s.progress.total;
  const cells = [
    html`<${Text} key="id">${fit(shortId(loop.id), COLUMNS.id)}</${Text}>`,
    html`<${Text} key="name">${fit(repo > 0 ? visibleLine(loop.spec.title ?? "-") : loopName(loop), name)}</${Text}>`,
    ...(repo > 0
      ? [html`<${Text} key="repo" dimColor>${fitStart(visibleLine(repoName(loop.spec.repo.url)), repo)}</${Text}>`]
      : []),
    html`<${Text} key="state" color=${STATE_COLORS[s.state]}>${fit(s.state, COLUMNS.state)}</${Text}>`,
    html`
      <${Text} key="progress" color=${done ? "green" : undefined}>
        ${fit(progressBar(s.progress.done, s.progress.total, PROGRESS_BAR_CELLS), COLUMNS.progress)}
      </${Text}>
    `,
    html`<${Text} key="iter">${fit(String(s.iteration), COLUMNS.iteration)}</${Text}>`,
    html`<${Text} key="att">${fit(String(s.attempt), COLUMNS.attempt)}</${Text}>`,
    html`<${Text} key="cost">${fit(formatCost(loop.cost.usd), COLUMNS.cost)}</${Text}>`,
    html`<${Text} key="age">${fit(formatAge(now - Date.parse(s.createdAt)), COLUMNS.age)}</${Text}>`,
  ];
  const spaced = cells.flatMap((c, i) => (i === 0 ? [c] : [html`<${Text} key=${`sp${i}`}>${" "}</${Text}>`, c]));
  return html`
    <${Text} wrap="truncate" inverse=${selected} bold=${selected}>
      ${selected ? "▶ " : "  "}
      ${spaced}
    </${Text}>
  `;
}
