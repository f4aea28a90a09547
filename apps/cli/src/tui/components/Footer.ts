import { visibleLine } from "@smith/core";
import { Box, Text } from "ink";
import React from "react";
import { loopName, shortId } from "../format.ts";
import type { Prompt, TuiState } from "../state.ts";

const h = React.createElement;

const HINTS = {
  table: "enter open  / filter  n new  c cancel  r retry  s steer  a answer  : views  ? help  q quit",
  detail:
    "esc back  ↑↓ pgup pgdn scroll  f follow  / search  n N next  c cancel  r retry  s steer  a answer  : views  ? help  q quit",
  audit: "esc loops  : views (:loops :audit :cost)  ? help  q quit",
  cost: "esc loops  : views (:loops :audit :cost)  ? help  q quit",
} as const;

/** Two rows: the status of the last action (errors in red), then the prompt being typed or the key hints. */
export function Footer({ state }: { state: TuiState }): React.ReactElement {
  const status = state.status;
  return h(
    Box,
    { flexDirection: "column", height: 2 },
    h(
      Text,
      { wrap: "truncate", color: status?.level === "error" ? "red" : "green" }, // A status line may quote the server's message, which may quote a title or a reason.
      status ? visibleLine(status.text) : " ",
    ),
    state.prompt
      ? h(PromptLine, { state, prompt: state.prompt })
      : h(Text, { dimColor: true, wrap: "truncate" }, HINTS[state.view.kind]),
  );
}

function PromptLine({ state, prompt }: { state: TuiState; prompt: Prompt }): React.ReactElement {
  if (prompt.kind === "confirm-cancel") {
    const loop = state.loops.get(prompt.loopId);
    return h(
      Text,
      { color: "yellow", wrap: "truncate" },
      `Cancel loop ${shortId(prompt.loopId)}${loop ? ` (${loopName(loop)})` : ""}? y/n`,
    );
  }
  const label = {
    filter: "/",
    search: "search /",
    command: ":",
    "new-prd": "new loop, PRD file (JSON or .md): ",
    "new-repo": "new loop, repository URL: ",
    "cancel-reason": "cancel reason: ",
    "retry-reason": "retry reason: ",
    steer: "steer message: ",
    answer: "answer: ",
  }[prompt.kind];
  return h(
    Text,
    { wrap: "truncate-start" },
    h(Text, { color: "yellow" }, label),
    visibleLine(prompt.value),
    h(Text, { inverse: true }, " "),
  );
}
