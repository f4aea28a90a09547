import { describe, expect, it } from "vitest";
import { SmithError } from "../errors.ts";
import { LIMITS } from "../limits.ts";
import { markStory } from "./mark.ts";
import { prdFromMarkdown, prdToMarkdown } from "./markdown.ts";
import type { Prd } from "./model.ts";
import { parsePrd } from "./parse.ts";
import { serializePrd } from "./serialize.ts";
import { altSmithText, ralphText, richSmithText } from "./testFixtures.ts";

function thrown(fn: () => unknown): SmithError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SmithError) return err;
    throw err;
  }
  throw new Error("expected a SmithError");
}

const handWritten = `# Team wiki

A small wiki for the team.

## Goals

- Pages load in under 200 ms
* Anyone can edit

## Non-goals

- Access control

## Quality gates

- \`npm test\`
- npm run lint

## Background

We outgrew the shared Google Doc.

## Stories

### WIKI-1: Render pages

As a reader I want pages rendered from Markdown.

\`\`\`bash
# not a heading: a shell comment inside a code block
npm run render
\`\`\`

#### Acceptance criteria

- [x] Headings and lists render
- [x] Code blocks are highlighted

### WIKI-2 - Edit pages

- Status: In progress
- Depends on: WIKI-1

#### Acceptance criteria

1. Save button stores a new revision
2. Conflicting edits show a diff
   with both versions

#### Design notes

Use optimistic locking.

### WIKI-3 Search

- Priority: 2
- Depends on: WIKI-1, WIKI-2

#### Acceptance criteria

- [ ] Search by title
- [x] Search by body
`;

describe("prdToMarkdown", () => {
  it("writes Markdown a person can read and edit", () => {
    const md = prdToMarkdown(markStory(parsePrd(richSmithText), "US-002", "done", "2025-02-01T00:00:00.000Z"));
    const lines = md.split("\n");
    expect(lines[0]).toBe("# Invoice export");
    for (const line of [
      "## Overview",
      "Let accountants export invoices as CSV and re-import corrected files.",
      "## Goals",
      "- Export any invoice range as CSV in under 5 seconds",
      "## Non-goals",
      "- PDF export",
      "## Quality gates",
      "- `npm run lint -- --max-warnings 0`",
      "## Stories",
      "### US-004: Import error report",
      "- Status: open",
      "- Depends on: US-002, US-003",
      "Show which rows failed and why.",
      "#### Acceptance criteria",
      "- [ ] Errors list row number and message",
      "- [x] Downloaded file name is invoices-<from>-<to>.csv",
      "## Metadata",
    ]) {
      expect(lines).toContain(line);
    }
  });

  it("writes no metadata block for a PRD that the sections show completely", () => {
    const md = prdToMarkdown(prdFromMarkdown(handWritten));
    expect(md).not.toContain("## Metadata");
  });
});

describe("prdFromMarkdown(prdToMarkdown(prd))", () => {
  it.each([
    ["rich smith", richSmithText],
    ["alternative-forms smith", altSmithText],
    ["ralph", ralphText],
  ])("gives back the %s PRD, and its JSON byte for byte", (_name, text) => {
    const prd = parsePrd(text);
    const back = prdFromMarkdown(prdToMarkdown(prd));
    expect(back).toStrictEqual(prd);
    expect(serializePrd(back)).toBe(text);
  });

  it("keeps statuses, priorities and notes of a ralph PRD in progress", () => {
    const prd = markStory(parsePrd(ralphText), "US-002", "in_progress");
    const back = prdFromMarkdown(prdToMarkdown(prd));
    expect(back.format).toBe("ralph");
    expect(back.stories.map((s) => [s.status, s.priority, s.notes])).toEqual([
      ["done", 1, "Migration 0007 adds the column with a CHECK constraint."],
      ["in_progress", 2, ""],
      ["open", 4, ""],
      ["open", 3, ""],
    ]);
  });

  it("survives text that Markdown cannot show as written", () => {
    const prd: Prd = {
      format: "smith",
      project: "Odd\nproject",
      overview: "  Intro with trailing space  \n## Not a section\n```\nunclosed fence",
      goals: ["multi\nline goal", " padded "],
      nonGoals: [""],
      qualityGates: ["echo `date`", "`"],
      stories: [
        {
          id: "A: 1",
          title: "Title with # hash",
          description: "- Priority: 3\n#### Notes\nnot notes",
          acceptanceCriteria: ["[x] literal box", "two\nlines"],
          status: "open",
          dependsOn: ["B 2", ""],
          notes: "### heading in notes",
          extra: {},
          keyOrder: [],
        },
        {
          id: "B 2",
          title: "",
          description: "",
          acceptanceCriteria: [],
          status: "done",
          dependsOn: [],
          priority: 0.5,
          extra: { nested: { deep: [1, null, "x"] } },
          keyOrder: [],
        },
      ],
      extra: {},
      keyOrder: [],
    };
    const md = prdToMarkdown(prd);
    // The odd text is shown escaped, so it cannot start sections or stories of its own.
    expect(md.match(/^## /gm)).toEqual(["## ", "## ", "## ", "## ", "## ", "## "]);
    expect(md.match(/^### /gm)).toHaveLength(2);
    expect(md).toContain("\\#### Notes\nnot notes");
    expect(prdFromMarkdown(md)).toStrictEqual(prd);
  });

  it("keeps a story's metadata with its story when a person reorders the stories", () => {
    const prd = parsePrd(richSmithText);
    const md = prdToMarkdown(prd);
    const start = md.indexOf("### US-001");
    const end = md.indexOf("### US-002");
    const moved = md.slice(0, start) + md.slice(end).replace("## Metadata", `${md.slice(start, end)}## Metadata`);
    const back = prdFromMarkdown(moved);
    expect(back.stories.map((s) => s.id)).toEqual(["US-002", "US-003", "US-004", "US-001"]);
    expect(back.stories[3]).toStrictEqual(prd.stories[0]);
  });
});

describe("prdFromMarkdown: hand-written Markdown", () => {
  const prd = prdFromMarkdown(handWritten);

  it("imports as a smith PRD with the sections read liberally", () => {
    expect(prd.format).toBe("smith");
    expect(prd.project).toBe("Team wiki");
    expect(prd.goals).toEqual(["Pages load in under 200 ms", "Anyone can edit"]);
    expect(prd.nonGoals).toEqual(["Access control"]);
    expect(prd.qualityGates).toEqual(["npm test", "npm run lint"]);
    expect(prd.extra).toEqual({});
    expect(prd.keyOrder).toEqual([]);
  });

  it("keeps text before the first section and unknown sections in the overview", () => {
    expect(prd.overview).toBe("A small wiki for the team.\n\n## Background\n\nWe outgrew the shared Google Doc.");
  });

  it("reads story headings written as 'ID: Title', 'ID - Title' and 'ID Title'", () => {
    expect(prd.stories.map((s) => [s.id, s.title])).toEqual([
      ["WIKI-1", "Render pages"],
      ["WIKI-2", "Edit pages"],
      ["WIKI-3", "Search"],
    ]);
  });

  it("treats headings inside a fenced code block as description text", () => {
    expect(prd.stories[0]?.description).toContain("# not a heading: a shell comment inside a code block");
  });

  it("reads status from the Status line, else done only when every box is ticked", () => {
    expect(prd.stories.map((s) => s.status)).toEqual(["done", "in_progress", "open"]);
  });

  it("reads numbered criteria, continuation lines, priority and dependencies", () => {
    expect(prd.stories[1]?.acceptanceCriteria).toEqual([
      "Save button stores a new revision",
      "Conflicting edits show a diff with both versions",
    ]);
    expect(prd.stories[1]?.dependsOn).toEqual(["WIKI-1"]);
    expect(prd.stories[2]).toMatchObject({ priority: 2, dependsOn: ["WIKI-1", "WIKI-2"] });
  });

  it("keeps an unknown story subsection in the description", () => {
    expect(prd.stories[1]?.description).toBe("#### Design notes\n\nUse optimistic locking.");
  });
});

describe("prdFromMarkdown: rejected Markdown", () => {
  it("rejects Markdown without a title, naming the field", () => {
    const err = thrown(() => prdFromMarkdown("## Stories\n\n### S-1: T\n"));
    expect(err.code).toBe("invalid_argument");
    expect(err.details).toMatchObject({ field: "prd", issues: [{ path: "title" }] });
  });

  it("rejects Markdown without stories", () => {
    const err = thrown(() => prdFromMarkdown("# Project\n\n## Goals\n\n- one\n"));
    expect(err.code).toBe("invalid_argument");
    expect(err.details).toMatchObject({ field: "prd", issues: [{ path: "stories" }] });
  });

  it("rejects an unknown status, naming the story", () => {
    const err = thrown(() => prdFromMarkdown("# P\n\n## Stories\n\n### S-1: T\n\n- Status: blocked\n"));
    expect(err.details).toMatchObject({ field: "prd", issues: [{ path: "stories[0].status" }] });
    expect(err.message).toMatch(/story S-1: status must be open, in_progress or done; got "blocked"/);
  });

  it("rejects a priority that is not a number", () => {
    const err = thrown(() => prdFromMarkdown("# P\n\n## Stories\n\n### S-1: T\n\n- Priority: high\n"));
    expect(err.details).toMatchObject({ issues: [{ path: "stories[0].priority" }] });
  });

  it("rejects a metadata block that is not JSON", () => {
    const err = thrown(() =>
      prdFromMarkdown("# P\n\n## Stories\n\n### S-1: T\n\n## Metadata\n\n```json\n{ nope\n```\n"),
    );
    expect(err.details).toMatchObject({ field: "prd", issues: [{ path: "metadata" }] });
  });

  it("rejects a metadata block of the wrong shape, naming the key", () => {
    const err = thrown(() =>
      prdFromMarkdown('# P\n\n## Stories\n\n### S-1: T\n\n## Metadata\n\n```json\n{ "format": "jira" }\n```\n'),
    );
    expect(err.details.issues?.[0]?.path).toBe("metadata.format");
  });

  it("rejects Markdown over 512 KiB with too_large", () => {
    const err = thrown(() => prdFromMarkdown(`# P\n\n${"x".repeat(LIMITS.prdBytes)}`));
    expect(err).toMatchObject({ code: "too_large", details: { limit: LIMITS.prdBytes } });
  });
});
