/**
 * The prompt `smith prd generate` gives an agent: the person's request, the Smith PRD shape with
 * an example, and the rules validatePrd checks, so that the draft usually passes as it comes.
 */
import { LIMITS, KiB } from "@smith/core";

/** A small PRD in the Smith shape, shown to the agent (and checked by the tests to validate `pass`). */
export const EXAMPLE_PRD = {
  project: "Invoice export",
  overview: "Let accountants export invoices as CSV so that they can reconcile them in a spreadsheet.",
  goals: ["Export any invoice range as CSV"],
  nonGoals: ["PDF export"],
  qualityGates: ["npm test", "npm run lint"],
  stories: [
    {
      id: "US-001",
      title: "CSV export endpoint",
      status: "open",
      dependsOn: [],
      description:
        "As an accountant I want GET /api/invoices/export?from&to to return CSV so that I can download invoices.",
      acceptanceCriteria: [
        "GET /api/invoices/export returns 200 with Content-Type text/csv",
        "The first line is the header invoice_id,date,total",
      ],
    },
    {
      id: "US-002",
      title: "Export button",
      status: "open",
      dependsOn: ["US-001"],
      description: "As an accountant I want an Export button on /invoices that downloads the current filter as CSV.",
      acceptanceCriteria: [
        "An Export button is visible on /invoices",
        "Clicking it downloads invoices-<from>-<to>.csv",
      ],
    },
  ],
};

/**
 * The agent's reply is read from its final message, which @smith/agents keeps up to
 * LIMITS.journalMessageBytes; a longer PRD would be cut, so the prompt asks for less.
 */
export const REPLY_BUDGET_KIB = Math.floor((LIMITS.journalMessageBytes * 3) / 4 / KiB);

export function buildPrdPrompt(request: string): string {
  return `You are drafting a PRD (product requirements document) for Smith, a tool that runs an autonomous coding agent on a repository one user story at a time: for each story it runs the agent, then runs the PRD's quality gates, and marks the story done when they pass.

## The request

${request.trim()}

## How to work

- The current directory is the repository the PRD is for. Read it (README, package files, source layout, test setup) so that the stories and quality gates fit the code that is there.
- Do not create, change or delete any files, and do not run commands that change anything: a person reviews your draft before it is written.
- Reply with the PRD as ONE JSON object in ONE fenced \`\`\`json code block, in your final message. Plain JSON: no comments, no trailing commas. Keep the JSON under ${REPLY_BUDGET_KIB} KB.

## The PRD shape

\`\`\`json
${JSON.stringify(EXAMPLE_PRD, null, 2)}
\`\`\`

- "project": a short, non-blank name.
- "overview": two or three sentences: what is being built, for whom, and why.
- "goals" / "nonGoals": short strings; nonGoals say what is deliberately left out.
- "qualityGates": shell commands run from the repository root after every story; all must exit 0. Use the repository's real test, lint and typecheck commands when it has them. Every command must already work before any story is done (no commands for tools the stories still have to add).
- "stories": the work in the order it should be done, each small enough for one agent session (one endpoint, one screen, one migration).
  - "id": "US-001", "US-002", ... numbered in order, unique.
  - "title": a short, non-blank summary of what the story delivers.
  - "status": always "open".
  - "dependsOn": ids of earlier stories that must be done first; [] when none. Never a later story, never the story itself, no cycles.
  - "description": "As a <user> I want <capability> so that <benefit>", plus any detail the agent needs.
  - "acceptanceCriteria": at least one; each one a concrete, checkable statement (a command's result, an HTTP response, what a page shows), not "works well".
`;
}
