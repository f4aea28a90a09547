/**
 * Realistic PRDs of both shapes, for the tests next to this file. The texts are what the tools
 * write (2-space JSON, trailing newline), so a faithful round-trip gives them back byte for byte.
 * Key orders deliberately differ from the order Smith writes for new documents.
 */

/** An iannuttall-style smith PRD using the list forms: uiNotes list, importFormat object. */
const richSmithDocument = {
  version: 1,
  project: "Invoice export",
  overview: "Let accountants export invoices as CSV and re-import corrected files.",
  qualityGates: ["npm run typecheck", "npm test", "npm run lint -- --max-warnings 0"],
  goals: ["Export any invoice range as CSV in under 5 seconds", "Round-trip edits without data loss"],
  nonGoals: ["PDF export", "Multi-currency conversion"],
  successMetrics: ["90% of exports finish under 2 s", "No support tickets about broken CSV"],
  openQuestions: ["Do we need Excel-specific quoting?"],
  stack: { frontend: "Next.js 15", backend: "tRPC", database: "Postgres 16", auth: "Clerk" },
  routes: [{ path: "/invoices", name: "Invoices", purpose: "List and filter invoices" }, "/invoices/export"],
  uiNotes: ["Export button sits in the table toolbar", "Show a progress toast for long exports"],
  dataModel: [
    {
      name: "Invoice",
      fields: [
        { name: "id", type: "uuid" },
        { name: "total", type: "numeric(12,2)", notes: "tax included" },
      ],
    },
    { entity: "ExportJob", fields: ["id: uuid", "status: queued | running | done", "createdAt: timestamptz"] },
    { entity: "ImportError", fields: { row: "int", message: "text" } },
  ],
  importFormat: {
    description: "UTF-8 CSV with a header row",
    columns: ["invoice_id", "customer", "total"],
    example: "invoice_id,customer,total\n7f3c,ACME,120.00",
  },
  rules: ["Never change an invoice that is already paid"],
  owner: "billing-team",
  stories: [
    {
      id: "US-001",
      title: "Export invoices as CSV",
      status: "done",
      dependsOn: [],
      description: "As an accountant I want to export invoices so that I can reconcile them in a spreadsheet.",
      acceptanceCriteria: [
        "GET /api/invoices/export?from&to returns text/csv",
        "Header row matches importFormat.columns",
      ],
      createdAt: "2025-01-06T09:00:00.000Z",
      updatedAt: "2025-01-07T16:30:00.000Z",
      startedAt: "2025-01-07T10:00:00.000Z",
      completedAt: "2025-01-07T16:30:00.000Z",
      estimate: "S",
    },
    {
      id: "US-002",
      title: "Export button in the invoice table",
      status: "in_progress",
      dependsOn: ["US-001"],
      description: "Add an Export button that downloads the current filter as CSV.",
      acceptanceCriteria: ["Button visible on /invoices", "Downloaded file name is invoices-<from>-<to>.csv"],
      createdAt: "2025-01-06T09:00:00.000Z",
      updatedAt: "2025-01-08T08:00:00.000Z",
      startedAt: "2025-01-08T08:00:00.000Z",
      labels: ["ui"],
    },
    {
      id: "US-003",
      title: "Import corrected CSV",
      status: "open",
      dependsOn: ["US-001"],
      description: "Accept a corrected CSV and apply changes to unpaid invoices.",
      acceptanceCriteria: ["Paid invoices are never modified", "Row errors are stored as ImportError"],
    },
    {
      id: "US-004",
      title: "Import error report",
      status: "open",
      dependsOn: ["US-002", "US-003"],
      description: "Show which rows failed and why.",
      acceptanceCriteria: ["Errors list row number and message", "npm test covers a file with 3 bad rows"],
    },
  ],
};

/** The same shape with the scalar alternatives: uiNotes and importFormat strings, version string. */
export const altSmithDocument = {
  project: "Team calendar",
  version: "1.0",
  overview: "A shared calendar for small teams.",
  goals: ["See the team's week at a glance"],
  nonGoals: [],
  uiNotes: "Week view first; month view later.",
  importFormat: "iCal (.ics) files exported from Google Calendar",
  dataModel: [{ name: "Event", fields: ["id", "title", "startsAt", "endsAt"] }],
  qualityGates: ["pnpm test"],
  stories: [
    {
      id: "CAL-1",
      title: "Week view",
      description: "Render the current week with events.",
      acceptanceCriteria: ["Seven columns Monday to Sunday", "Events placed by start time"],
      status: "open",
      dependsOn: [],
      startedAt: null,
      completedAt: null,
    },
    {
      id: "CAL-2",
      title: "Import .ics",
      description: "Import events from an .ics file.",
      acceptanceCriteria: ["Recurring events expand for 12 weeks"],
      status: "open",
      dependsOn: ["CAL-1"],
      startedAt: null,
      completedAt: null,
    },
  ],
};

/** A snarktank/ralph prd.json, with the extra keys ralph forks add. */
const ralphDocument = {
  project: "TaskApp",
  branchName: "ralph/task-priority",
  description: "Task Priority System - add priority levels to tasks",
  userStories: [
    {
      id: "US-001",
      title: "Add priority field to database",
      description: "As a developer, I need to store task priority so it persists across sessions.",
      acceptanceCriteria: [
        "Add priority column to tasks table: 'high' | 'medium' | 'low' (default 'medium')",
        "Generate and run migration successfully",
        "Typecheck passes",
      ],
      priority: 1,
      passes: true,
      notes: "Migration 0007 adds the column with a CHECK constraint.",
    },
    {
      id: "US-002",
      title: "Display priority indicator on task cards",
      description: "As a user, I want to see task priority at a glance.",
      acceptanceCriteria: ["Each task card shows a colored priority badge", "Typecheck passes", "Verify in browser"],
      priority: 2,
      passes: false,
      notes: "",
    },
    {
      id: "US-003",
      title: "Add priority selector to task edit",
      description: "As a user, I want to change a task's priority when editing it.",
      acceptanceCriteria: ["Priority dropdown in task edit modal", "Saves immediately on change", "Typecheck passes"],
      priority: 4,
      passes: false,
      notes: "",
    },
    {
      id: "US-004",
      title: "Filter tasks by priority",
      description: "As a user, I want to filter the task list to see only high-priority items.",
      acceptanceCriteria: ["Filter dropdown: All | High | Medium | Low", "Filter persists in URL params"],
      priority: 3,
      passes: false,
      notes: "",
      preCommit: ["npm run typecheck"],
    },
  ],
};

/** A document as a tool writes it. */
export function documentText(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

export const richSmithText = documentText(richSmithDocument);
export const altSmithText = documentText(altSmithDocument);
export const ralphText = documentText(ralphDocument);
