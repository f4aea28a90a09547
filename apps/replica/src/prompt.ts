import type { Handoff, Prd, PrdStory } from "@smith/core";
import { QUESTION_MARKER, tailText } from "@smith/core";

export interface PromptInput {
  prd: Prd;
  story: PrdStory;
  gates: string[];
  prdPath: string;
  progressNotes: string;
  handoff?: Handoff;
  /** Operator messages; one with a `question` answers the question the loop waited on. */
  steering: { message: string; actor: string; at: string; question?: string | undefined }[];
  iteration: number;
  attempt: number;
  /** Why the previous iteration on this story failed, if it did. */
  lastFailure?: string;
}

/** The prompt of one iteration: everything the agent needs, rebuilt from the repository and the loop. */
export function buildPrompt(input: PromptInput): string {
  const { prd, story } = input;
  const lines: string[] = [];
  lines.push(`You are an autonomous coding agent working in a git repository on ONE user story of a PRD.`);
  lines.push(`Implement the story below so that every acceptance criterion holds and the quality gates pass.`);
  lines.push(`Do not commit or push: Smith runs the quality gates and commits when they pass.`);
  lines.push(`Do not edit ${input.prdPath}: Smith marks the story done itself.`);
  lines.push(
    `If you cannot go on without a decision from a person, stop and end your final message with one line: ${QUESTION_MARKER} <your question>`,
  );
  lines.push("");
  lines.push(`# Project: ${prd.project}`);
  if (prd.overview) lines.push("", tailText(prd.overview, 8 * 1024));
  if (prd.goals.length) lines.push("", "## Goals", ...prd.goals.map((g) => `- ${g}`));
  if (prd.nonGoals.length) lines.push("", "## Non-goals", ...prd.nonGoals.map((g) => `- ${g}`));
  lines.push("", "## Quality gates (run by Smith after you finish; all must pass)");
  lines.push(...(input.gates.length ? input.gates.map((g) => `- \`${g}\``) : ["- (none configured)"]));
  const done = prd.stories.filter((s) => s.status === "done").map((s) => `${s.id} ${s.title}`);
  if (done.length) lines.push("", "## Stories already done", ...done.map((d) => `- ${d}`));
  lines.push("", `## Your story: ${story.id}: ${story.title}`);
  if (story.description) lines.push("", story.description);
  lines.push("", "### Acceptance criteria", ...story.acceptanceCriteria.map((c) => `- ${c}`));
  if (input.lastFailure)
    lines.push("", "## The previous iteration on this story failed", "", tailText(input.lastFailure, 6 * 1024));
  if (input.progressNotes.trim())
    lines.push("", "## Progress notes from earlier iterations", "", tailText(input.progressNotes, 8 * 1024));
  if (input.handoff) {
    const h = input.handoff;
    lines.push("", `## Handoff from attempt ${h.attempt}`);
    if (h.done.length) lines.push("Done:", ...h.done.map((d) => `- ${d}`));
    if (h.remaining.length) lines.push("Remaining:", ...h.remaining.map((d) => `- ${d}`));
    if (h.decisions.length) lines.push("Decisions:", ...h.decisions.map((d) => `- ${d}`));
    if (h.uncertain.length) lines.push("Uncertain:", ...h.uncertain.map((d) => `- ${d}`));
    if (h.nextSteps.length) lines.push("Next steps:", ...h.nextSteps.map((d) => `- ${d}`));
  }
  const answers = input.steering.filter((s) => s.question !== undefined);
  const messages = input.steering.filter((s) => s.question === undefined);
  if (answers.length) {
    lines.push("", "## Answers from a person (the loop waited for them; follow them)");
    for (const a of answers) {
      lines.push("");
      if (a.question) lines.push(`Question: ${a.question}`);
      lines.push(`Answer (${a.actor}, ${a.at}): ${a.message}`);
    }
  }
  if (messages.length) {
    lines.push("", "## Messages from the operator (follow them)");
    for (const s of messages) lines.push(`- (${s.actor}, ${s.at}) ${s.message}`);
  }
  lines.push("", `(iteration ${input.iteration}, attempt ${input.attempt})`);
  return lines.join("\n") + "\n";
}
