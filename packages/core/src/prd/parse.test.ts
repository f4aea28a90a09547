import { describe, expect, it } from "vitest";
import { SmithError } from "../errors.ts";
import { LIMITS } from "../limits.ts";
import { parsePrd, parsePrdObject } from "./parse.ts";
import { altSmithDocument, altSmithText, documentText, ralphText, richSmithText } from "./testFixtures.ts";

function thrown(fn: () => unknown): SmithError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SmithError) return err;
    throw err;
  }
  throw new Error("expected a SmithError");
}

describe("parsePrd: smith / iannuttall shape", () => {
  it("reads a rich PRD that uses every alternative the Go implementation rejected", () => {
    const prd = parsePrd(richSmithText);
    expect(prd.format).toBe("smith");
    expect(prd.version).toBe(1);
    expect(prd.project).toBe("Invoice export");
    expect(prd.overview).toMatch(/^Let accountants export/);
    expect(prd.qualityGates).toEqual(["npm run typecheck", "npm test", "npm run lint -- --max-warnings 0"]);
    expect(prd.nonGoals).toEqual(["PDF export", "Multi-currency conversion"]);
    expect(prd.stack).toEqual({ frontend: "Next.js 15", backend: "tRPC", database: "Postgres 16", auth: "Clerk" });
    expect(prd.routes).toHaveLength(2);
    expect(prd.routes?.[1]).toBe("/invoices/export");
    expect(prd.uiNotes).toEqual(["Export button sits in the table toolbar", "Show a progress toast for long exports"]);
    expect(prd.dataModel?.map((entry) => entry.name ?? entry.entity)).toEqual(["Invoice", "ExportJob", "ImportError"]);
    expect(prd.dataModel?.[0]?.fields).toEqual([
      { name: "id", type: "uuid" },
      { name: "total", type: "numeric(12,2)", notes: "tax included" },
    ]);
    expect(prd.dataModel?.[1]?.fields).toEqual([
      "id: uuid",
      "status: queued | running | done",
      "createdAt: timestamptz",
    ]);
    expect(prd.dataModel?.[2]?.fields).toEqual({ row: "int", message: "text" });
    expect(prd.importFormat).toMatchObject({ columns: ["invoice_id", "customer", "total"] });
    expect(prd.rules).toEqual(["Never change an invoice that is already paid"]);
    expect(prd.extra).toEqual({ owner: "billing-team" });
  });

  it("reads stories with status, dependsOn, timestamps and extra story keys", () => {
    const [first, second, third] = parsePrd(richSmithText).stories;
    expect(first).toMatchObject({
      id: "US-001",
      status: "done",
      dependsOn: [],
      startedAt: "2025-01-07T10:00:00.000Z",
      completedAt: "2025-01-07T16:30:00.000Z",
      extra: { estimate: "S" },
    });
    expect(second).toMatchObject({
      id: "US-002",
      status: "in_progress",
      dependsOn: ["US-001"],
      extra: { labels: ["ui"] },
    });
    expect(second?.completedAt).toBeUndefined();
    expect(third?.acceptanceCriteria).toEqual([
      "Paid invoices are never modified",
      "Row errors are stored as ImportError",
    ]);
  });

  it("reads the scalar alternatives: uiNotes and importFormat as strings, version as a string, null timestamps", () => {
    const prd = parsePrd(altSmithText);
    expect(prd.version).toBe("1.0");
    expect(prd.uiNotes).toBe("Week view first; month view later.");
    expect(prd.importFormat).toBe("iCal (.ics) files exported from Google Calendar");
    expect(prd.stories[0]).toMatchObject({ startedAt: null, completedAt: null });
  });

  it("defaults missing optional arrays, status and description instead of rejecting the PRD", () => {
    const prd = parsePrdObject({
      project: "Minimal",
      stories: [{ id: "S-1", title: "Only story", acceptanceCriteria: ["it works"] }],
    });
    expect(prd).toMatchObject({ format: "smith", overview: "", goals: [], nonGoals: [], qualityGates: [], extra: {} });
    expect(prd.stories[0]).toEqual({
      id: "S-1",
      title: "Only story",
      description: "",
      acceptanceCriteria: ["it works"],
      status: "open",
      dependsOn: [],
      extra: {},
      // The keys read are in the order Smith writes, so there is no order to remember.
      keyOrder: [],
    });
  });

  it("keeps a context block of an unexpected form verbatim in extra rather than failing the PRD", () => {
    const prd = parsePrdObject({ ...altSmithDocument, uiNotes: 42, stack: null });
    expect(prd.uiNotes).toBeUndefined();
    expect(prd.stack).toBeUndefined();
    expect(prd.extra).toEqual({ uiNotes: 42, stack: null });
  });

  it("keeps a dataModel entry without name or entity verbatim in extra", () => {
    const prd = parsePrdObject({ ...altSmithDocument, dataModel: [{ fields: ["id"] }] });
    expect(prd.dataModel).toBeUndefined();
    expect(prd.extra["dataModel"]).toEqual([{ fields: ["id"] }]);
  });

  it("keeps a story's priority of an unexpected form in the story's extra", () => {
    const prd = parsePrdObject({
      project: "P",
      stories: [{ id: "S-1", title: "T", acceptanceCriteria: ["c"], priority: "high" }],
    });
    expect(prd.stories[0]?.priority).toBeUndefined();
    expect(prd.stories[0]?.extra).toEqual({ priority: "high" });
  });

  it("accepts a UTF-8 byte-order mark, which Windows editors write", () => {
    expect(parsePrd(`\uFEFF${altSmithText}`).project).toBe("Team calendar");
  });

  it("keeps a __proto__ key as data without touching any prototype", () => {
    const prd = parsePrd('{"project":"P","stories":[],"__proto__":{"polluted":true}}');
    expect(Object.hasOwn(prd.extra, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(prd.extra)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});

describe("parsePrd: snarktank/ralph shape", () => {
  it("maps passes to status and keeps priority, notes, branchName and description", () => {
    const prd = parsePrd(ralphText);
    expect(prd.format).toBe("ralph");
    expect(prd.branchName).toBe("ralph/task-priority");
    expect(prd.overview).toBe("Task Priority System - add priority levels to tasks");
    expect(prd.qualityGates).toEqual([]);
    expect(prd.stories.map((s) => [s.id, s.status, s.priority])).toEqual([
      ["US-001", "done", 1],
      ["US-002", "open", 2],
      ["US-003", "open", 4],
      ["US-004", "open", 3],
    ]);
    expect(prd.stories[0]?.notes).toBe("Migration 0007 adds the column with a CHECK constraint.");
    expect(prd.stories[1]?.notes).toBe("");
  });

  it("treats ralph stories as having no dependencies and keeps unknown story keys", () => {
    const prd = parsePrd(ralphText);
    expect(prd.stories.every((s) => s.dependsOn.length === 0)).toBe(true);
    expect(prd.stories[3]?.extra).toEqual({ preCommit: ["npm run typecheck"] });
  });

  it("recognises a ralph document without userStories by its branchName", () => {
    expect(parsePrdObject({ project: "P", branchName: "ralph/x" }).format).toBe("ralph");
  });
});

describe("parsePrd: rejected input", () => {
  it("rejects invalid JSON with invalid_argument naming the prd field", () => {
    const err = thrown(() => parsePrd('{"project": "P", "stories": [}'));
    expect(err.code).toBe("invalid_argument");
    expect(err.details.field).toBe("prd");
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.details.issues).toEqual([{ path: "", message: expect.stringMatching(/^PRD is not valid JSON/) }]);
  });

  it("rejects JSON that is not an object", () => {
    const err = thrown(() => parsePrd("[1, 2]"));
    expect(err.code).toBe("invalid_argument");
    expect(err.message).toMatch(/must be a JSON object; got an array/);
  });

  it("rejects an object of neither shape, naming both story keys", () => {
    const err = thrown(() => parsePrdObject({ name: "P", tasks: [] }));
    expect(err.code).toBe("invalid_argument");
    expect(err.message).toMatch(/no `stories` \(smith shape\) or `userStories` \(ralph shape\)/);
  });

  it("rejects a document with both stories and userStories as ambiguous", () => {
    const err = thrown(() => parsePrdObject({ project: "P", stories: [], userStories: [] }));
    expect(err.message).toMatch(/both `stories`.*and `userStories`/);
  });

  it("reports every wrongly typed field with its path, not only the first", () => {
    const err = thrown(() =>
      parsePrdObject({
        project: "P",
        goals: "ship it",
        stories: [
          { id: "S-1", title: "T", acceptanceCriteria: "works" },
          "not a story",
          { id: "S-3", title: "T", status: "todo", dependsOn: ["S-1", 2] },
        ],
      }),
    );
    expect(err.code).toBe("invalid_argument");
    expect(err.details.issues?.map((issue) => issue.path)).toEqual([
      "goals",
      "stories[0].acceptanceCriteria",
      "stories[1]",
      "stories[2].dependsOn[1]",
      "stories[2].status",
    ]);
    expect(err.message).toMatch(/^invalid PRD: goals: goals must be an array of strings; got a string \(and 4 more\)$/);
  });

  it("names the ralph path for a passes value that is not a boolean", () => {
    const err = thrown(() =>
      parsePrdObject({ project: "P", userStories: [{ id: "US-1", title: "T", passes: "yes" }] }),
    );
    expect(err.details.issues).toEqual([
      { path: "userStories[0].passes", message: "passes must be true or false; got a string" },
    ]);
  });
});

describe("parsePrd: size limit", () => {
  const padTo = (bytes: number): string => {
    const text = documentText({ project: "P", stories: [] });
    return text + " ".repeat(bytes - text.length);
  };

  it("rejects a PRD of 512 KiB + 1 byte with too_large naming the limit", () => {
    const err = thrown(() => parsePrd(padTo(LIMITS.prdBytes + 1)));
    expect(err.code).toBe("too_large");
    expect(err.details).toMatchObject({ field: "prd", limit: 524288, actual: 524289 });
    expect(err.message).toBe("prd is 524289 bytes; the limit is 524288 bytes");
  });

  it("accepts a PRD of exactly 512 KiB", () => {
    expect(parsePrd(padTo(LIMITS.prdBytes)).project).toBe("P");
  });

  it("measures UTF-8 bytes, not characters", () => {
    const text = documentText({ project: "é".repeat(LIMITS.prdBytes / 2), stories: [] });
    expect(text.length).toBeLessThan(LIMITS.prdBytes);
    expect(thrown(() => parsePrd(text)).code).toBe("too_large");
  });

  it("checks the size before parsing, so oversized non-JSON is still too_large", () => {
    expect(thrown(() => parsePrd("x".repeat(LIMITS.prdBytes + 1))).code).toBe("too_large");
  });
});
