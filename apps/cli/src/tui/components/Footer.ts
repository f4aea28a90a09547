import { visibleLine } from "@smith/core";
import { Box, Text } from "ink";
import type React from "react";
import { loopName, shortId } from "../format.ts";
import { html } from "../html.ts";
import type { Prompt, TuiState } from "../state.ts";

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
  // A status line may quote the server's message, which may quote a title or a reason.
  return html`
    <${Box} flexDirection="column" height=${2}>
      <${Text} wrap="truncate" color=${status?.level === "error" ? "red" : "green"}>
        ${status ? visibleLine(status.text) : " "}
      </${Text}>
      ${
        state.prompt
          ? html`<${PromptLine} state=${state} prompt=${state.prompt} />`
          : html`<${Text} dimColor wrap="truncate">${HINTS[state.view.kind]}</${Text}>`
      }
    </${Box}>
  `;
}

function PromptLine({ state, prompt }: { state: TuiState; prompt: Prompt }): React.ReactElement {
  if (prompt.kind === "confirm-cancel") {
    const loop = state.loops.get(prompt.loopId);
    return html`
      <${Text} color="yellow" wrap="truncate">
        Cancel loop ${shortId(prompt.loopId)}${loop ? ` (${loopName(loop)})` : ""}? y/n
      </${Text}>
    `;
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
  return html`
    <${Text} wrap="truncate-start">
      <${Text} color="yellow">${label}</${Text}>
      ${visibleLine(prompt.value)}
      <${Text} inverse>${" "}</${Text}>
    </${Text}>
  `;
}
