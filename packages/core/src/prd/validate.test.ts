import { describe, expect, it } from "vitest";
import { LIMITS } from "../limits.ts";
import { PRD_DIAGNOSTIC_CODES, type PrdDiagnosticCode, type PrdValidationReport } from "./diagnostics.ts";
import { parsePrd } from "./parse.ts";
import { altSmithText, documentText, ralphText, richSmithText } from "./testFixtures.ts";
import { validatePrd } from "./validate.ts";

interface StoryInput {
  id?: unknown;
  title?: unknown;
  status?: unknown;
  dependsOn?: unknown;
  acceptanceCriteria?: unknown;
  [key: string]: unknown;
}

/** A smith document that passes, with the given stories. */
function smith(stories: StoryInput[], top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    project: "P",
    qualityGates: ["npm test"],
    stories: stories.map((s) => ({ title: `Story ${String(s.id)}`, acceptanceCriteria: ["it works"], ...s })),
    ...top,
  };
}

function codes(report: PrdValidationReport): { errors: PrdDiagnosticCode[]; warnings: PrdDiagnosticCode[] } {
  return { errors: report.errors.map((d) => d.code), warnings: report.warnings.map((d) => d.code) };
}

const covered = new Set<PrdDiagnosticCode>();
function expectDiagnostic(report: PrdValidationReport, code: PrdDiagnosticCode) {
  covered.add(code);
  const found = [...report.errors, ...report.warnings].find((d) => d.code === code);
  expect(found, `${code} in ${JSON.stringify(report)}`).toBeDefined();
  expect(found?.suggestion).not.toBe("");
  return expect(found);
}

describe("validatePrd: ready PRDs", () => {
  it.each([
    ["rich smith", richSmithText],
    ["alternative-forms smith", altSmithText],
  ])("passes the %s fixture", (_name, text) => {
    expect(validatePrd(text)).toEqual({ valid: true, readiness: "pass", errors: [], warnings: [] });
  });

  it("warns, but stays valid, on a ralph PRD: the shape has no quality gates", () => {
    const report = validatePrd(ralphText);
    expect(report.valid).toBe(true);
    expect(report.readiness).toBe("warn");
    expect(codes(report)).toEqual({ errors: [], warnings: ["prd_no_quality_gates"] });
    expectDiagnostic(report, "prd_no_quality_gates").toMatchObject({ path: "qualityGates" });
  });

  it("accepts a parsed Prd model and a decoded document as well as text", () => {
    expect(validatePrd(parsePrd(richSmithText)).readiness).toBe("pass");
    expect(validatePrd(JSON.parse(richSmithText)).readiness).toBe("pass");
  });
});

describe("validatePrd: diagnostics", () => {
  it("prd_too_large: a text of 512 KiB + 1 byte fails naming the limit", () => {
    const text = documentText(smith([{ id: "S-1" }]));
    const report = validatePrd(text + " ".repeat(LIMITS.prdBytes + 1 - text.length));
    expect(report.readiness).toBe("fail");
    expectDiagnostic(report, "prd_too_large").toMatchObject({
      path: "",
      message: "PRD is 524289 bytes; the limit is 512 KiB (524288 bytes)",
    });
  });

  it("prd_too_large: exactly 512 KiB passes the size check", () => {
    const text = documentText(smith([{ id: "S-1" }]));
    expect(validatePrd(text + " ".repeat(LIMITS.prdBytes - text.length)).readiness).toBe("pass");
  });

  it("prd_too_large: a model is measured as it would be written back", () => {
    const prd = parsePrd(documentText(smith([{ id: "S-1" }])));
    const huge = { ...prd, stories: prd.stories.map((s) => ({ ...s, description: "x".repeat(LIMITS.prdBytes) })) };
    expectDiagnostic(validatePrd(huge), "prd_too_large");
  });

  it("prd_invalid_json", () => {
    const report = validatePrd('{"project": "P",');
    expect(report.readiness).toBe("fail");
    expectDiagnostic(report, "prd_invalid_json").toMatchObject({
      path: "",
      message: expect.stringMatching(/not valid JSON/),
    });
  });

  it("prd_unknown_format: neither stories nor userStories", () => {
    expectDiagnostic(validatePrd({ name: "P", tasks: [] }), "prd_unknown_format").toMatchObject({
      message: expect.stringMatching(/`stories`.*`userStories`/),
    });
  });

  it("prd_invalid_field: a status outside the enum, with its path", () => {
    expectDiagnostic(validatePrd(smith([{ id: "S-1", status: "todo" }])), "prd_invalid_field").toMatchObject({
      path: "stories[0].status",
      message: 'status must be "open", "in_progress" or "done"; got "todo"',
    });
  });

  it("prd_missing_field: project, story id and story title", () => {
    const report = validatePrd(smith([{ id: "S-1" }, { id: "" }, { id: "S-3", title: "  " }], { project: undefined }));
    expect(report.errors.filter((d) => d.code === "prd_missing_field").map((d) => d.path)).toEqual([
      "project",
      "stories[1].id",
      "stories[2].title",
    ]);
    expectDiagnostic(report, "prd_missing_field").toMatchObject({ path: "project" });
  });

  it("prd_no_stories: an empty stories array", () => {
    expectDiagnostic(validatePrd(smith([])), "prd_no_stories").toMatchObject({ path: "stories" });
  });

  it("prd_no_stories: a smith document without a stories key", () => {
    expectDiagnostic(validatePrd({ project: "P", overview: "O", qualityGates: ["npm test"] }), "prd_no_stories");
  });

  it("prd_no_stories: names userStories for a ralph document", () => {
    expectDiagnostic(
      validatePrd({ project: "P", branchName: "ralph/p", userStories: [] }),
      "prd_no_stories",
    ).toMatchObject({
      path: "userStories",
    });
  });

  it("prd_duplicate_story_id: names the second occurrence and the first", () => {
    const report = validatePrd(smith([{ id: "S-1" }, { id: "S-2" }, { id: "S-1" }]));
    expectDiagnostic(report, "prd_duplicate_story_id").toMatchObject({
      path: "stories[2].id",
      storyId: "S-1",
      message: "story id S-1 is also used by stories[0]",
    });
  });

  it("prd_unknown_dependency: names the entry's path and the known ids", () => {
    const report = validatePrd(smith([{ id: "S-1" }, { id: "S-2", dependsOn: ["S-1", "S-9"] }]));
    expectDiagnostic(report, "prd_unknown_dependency").toMatchObject({
      path: "stories[1].dependsOn[1]",
      storyId: "S-2",
      suggestion: expect.stringContaining("S-1, S-2"),
    });
  });

  it("prd_unknown_dependency: suggests the id that differs only in case", () => {
    const report = validatePrd(smith([{ id: "US-001" }, { id: "US-002", dependsOn: ["us-001"] }]));
    expectDiagnostic(report, "prd_unknown_dependency").toMatchObject({ suggestion: 'Did you mean "US-001"?' });
  });

  it("prd_dependency_cycle: names the cycle once, from the story that comes first", () => {
    const report = validatePrd(
      smith([
        { id: "S-0" },
        { id: "S-1", dependsOn: ["S-0", "S-3"] },
        { id: "S-2", dependsOn: ["S-1"] },
        { id: "S-3", dependsOn: ["S-2"] },
      ]),
    );
    const cycles = report.errors.filter((d) => d.code === "prd_dependency_cycle");
    expect(cycles).toHaveLength(1);
    expectDiagnostic(report, "prd_dependency_cycle").toMatchObject({
      path: "stories[1].dependsOn[1]",
      storyId: "S-1",
      message: expect.stringContaining("S-1 → S-3 → S-2 → S-1"),
    });
  });

  it("prd_dependency_cycle: a story that depends on itself", () => {
    const report = validatePrd(smith([{ id: "S-1", dependsOn: ["S-1"] }]));
    expectDiagnostic(report, "prd_dependency_cycle").toMatchObject({
      path: "stories[0].dependsOn[0]",
      message: expect.stringContaining("S-1 → S-1"),
    });
  });

  it("prd_multiple_in_progress: lists every in-progress story", () => {
    const report = validatePrd(
      smith([{ id: "S-1", status: "in_progress" }, { id: "S-2" }, { id: "S-3", status: "in_progress" }]),
    );
    expectDiagnostic(report, "prd_multiple_in_progress").toMatchObject({
      path: "stories[2].status",
      storyId: "S-3",
      message: expect.stringContaining("2 stories are in progress (S-1, S-3)"),
    });
  });

  it("prd_no_acceptance_criteria is an error, for an empty list and for blank items", () => {
    const report = validatePrd(
      smith([
        { id: "S-1", acceptanceCriteria: [] },
        { id: "S-2", acceptanceCriteria: [" "] },
      ]),
    );
    expect(report.valid).toBe(false);
    expect(report.errors.filter((d) => d.code === "prd_no_acceptance_criteria").map((d) => d.storyId)).toEqual([
      "S-1",
      "S-2",
    ]);
    expectDiagnostic(report, "prd_no_acceptance_criteria").toMatchObject({ path: "stories[0].acceptanceCriteria" });
  });

  it("prd_no_quality_gates is a warning: readiness warn, still valid", () => {
    const report = validatePrd(smith([{ id: "S-1" }], { qualityGates: [] }));
    expect(report).toMatchObject({ valid: true, readiness: "warn", errors: [] });
    expectDiagnostic(report, "prd_no_quality_gates");
  });

  it("prd_unrecognised_value: warns about a context block or story field kept verbatim", () => {
    const report = validatePrd(smith([{ id: "S-1", priority: "high" }], { uiNotes: 42 }));
    expect(report.readiness).toBe("warn");
    expect(report.warnings.map((d) => d.path)).toEqual(["uiNotes", "stories[0].priority"]);
    expectDiagnostic(report, "prd_unrecognised_value").toMatchObject({ path: "uiNotes" });
  });

  it("names ralph paths in story diagnostics", () => {
    const report = validatePrd({ project: "P", userStories: [{ id: "US-1", title: "T", passes: false }] });
    expectDiagnostic(report, "prd_no_acceptance_criteria").toMatchObject({ path: "userStories[0].acceptanceCriteria" });
  });

  // Tests in a file run in order, so by now every test above has recorded its code.
  it("has a test for every diagnostic code", () => {
    expect([...covered].sort()).toEqual([...PRD_DIAGNOSTIC_CODES].sort());
  });
});

describe("validatePrd: never throws", () => {
  const circular: Record<string, unknown> = { project: "P", stories: [] };
  circular["self"] = circular;

  it.each([
    ["undefined", undefined],
    ["null", null],
    ["a number", 42],
    ["an empty string", ""],
    ["JSON null", "null"],
    ["an array", []],
    ["stories that are not an array", { project: "P", stories: "S-1" }],
    ["a circular object", circular],
    ["a BigInt", { project: "P", stories: [], budget: 10n }],
  ])("returns a failing report for %s", (_name, input) => {
    const report = validatePrd(input);
    expect(report.valid).toBe(false);
    expect(report.readiness).toBe("fail");
    expect(report.errors.length).toBeGreaterThan(0);
  });

  it("checks a dependency chain of 4000 stories without exhausting the stack", () => {
    const stories = Array.from({ length: 4000 }, (_, i) => ({
      id: `S${i}`,
      title: "t",
      acceptanceCriteria: ["c"],
      dependsOn: i === 0 ? ["S3999"] : [`S${i - 1}`],
    }));
    const report = validatePrd(JSON.stringify({ project: "P", qualityGates: ["t"], stories }));
    expect(codes(report).errors).toEqual(["prd_dependency_cycle"]);
    expect(report.errors[0]?.message).toMatch(/^dependency cycle: S0 → S3999 → S3998/);
  });
});
