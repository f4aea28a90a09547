import { parsePrd, validatePrd } from "@smith/core";
import { describe, expect, test } from "vitest";
import {
  anchorOfPath,
  describeAnchor,
  diagnosticsAt,
  fieldKey,
  fieldsOf,
  initialWizardState,
  wizardReducer,
  wizardResult,
  type WizardAction,
  type WizardState,
} from "./state.ts";

function run(state: WizardState, ...actions: WizardAction[]): WizardState {
  return actions.reduce(wizardReducer, state);
}

const type = (text: string): WizardAction => ({ type: "type", text });
const next: WizardAction = { type: "next" };

/** Project "Shop", one goal, gate "npm test", US-001 with one criterion: ready. */
function readyState(): WizardState {
  return run(
    initialWizardState(),
    type("Shop"),
    next,
    type("A small shop"),
    next, // → goals
    type("Sell things"),
    next, // → non-goals entry
    next, // → gates
    type("npm test"),
    next, // → stories, US-001 created
    type("Catalogue"),
    next,
    type("List products"),
    next,
    type("GET /products returns 200"),
  );
}

describe("wizard state", () => {
  test("a new PRD starts on the project name, failing (no project, no stories)", () => {
    const state = initialWizardState();
    expect(state.step).toBe("project");
    expect(state.focus).toEqual({ kind: "project" });
    expect(state.report.readiness).toBe("fail");
    expect(state.report.errors.map((d) => d.code).sort()).toEqual(["prd_missing_field", "prd_no_stories"]);
  });

  test("enter walks the fields and steps; the stories step creates US-001; the draft validates after every change", () => {
    const state = readyState();
    expect(state.step).toBe("stories");
    expect(state.focus).toEqual({ kind: "criterion", story: 0, index: 0 });
    expect(state.draft.stories.map((s) => s.id)).toEqual(["US-001"]);
    expect(state.report).toMatchObject({ readiness: "pass", errors: [], warnings: [] });
    const prd = wizardResult(state);
    expect(prd).toMatchObject({
      project: "Shop",
      overview: "A small shop",
      goals: ["Sell things"],
      nonGoals: [],
      qualityGates: ["npm test"],
    });
    expect(prd.stories[0]).toMatchObject({
      id: "US-001",
      title: "Catalogue",
      status: "open",
      dependsOn: [],
      acceptanceCriteria: ["GET /products returns 200"],
    });
  });

  test("a story without acceptance criteria is an error anchored at its criteria; typing one clears it", () => {
    let state = run(readyState(), { type: "clear" });
    expect(state.report.readiness).toBe("fail");
    const shown = diagnosticsAt(state.report, "story 0 criteria");
    expect(shown).toHaveLength(1);
    expect(shown[0]?.diagnostic.code).toBe("prd_no_acceptance_criteria");
    expect(shown[0]?.diagnostic.suggestion).toMatch(/checkable criteria/);
    state = run(state, type("It lists"));
    expect(state.report.readiness).toBe("pass");
  });

  test("no quality gates is a warning (finishing still allowed)", () => {
    const state = run(readyState(), { type: "back" }, { type: "clear" }, { type: "review" }, next);
    expect(state.report.readiness).toBe("warn");
    expect(diagnosticsAt(state.report, "qualityGates").map((d) => d.severity)).toEqual(["warning"]);
    expect(state.outcome).toBe("finished");
  });

  test("finishing is refused while readiness is fail, with the reason", () => {
    const state = run(initialWizardState(), { type: "review" }, next);
    expect(state.outcome).toBe("editing");
    expect(state.notice).toMatch(/Can't write the PRD yet: 2 errors/);
  });

  test("ctrl+n adds stories with the next id; dependencies are picked from the other stories", () => {
    let state = run(readyState(), { type: "addStory" }, type("Cart"));
    expect(state.draft.stories.map((s) => s.id)).toEqual(["US-001", "US-002"]);
    expect(state.focus).toEqual({ kind: "title", story: 1 });
    const fields = fieldsOf("stories", state.draft).map(fieldKey);
    expect(fields).toEqual([
      "title@0",
      "description@0",
      "criterion@0[0]",
      "deps@0",
      "title@1",
      "description@1",
      "criterion@1[0]",
      "deps@1",
    ]);
    state = run(state, next, next, type("Add to cart works"), next);
    expect(state.focus).toEqual({ kind: "deps", story: 1 });
    // Typing is ignored on the picker; space (toggleOption) picks the highlighted id.
    state = run(state, type("x"), { type: "toggleOption" });
    expect(state.draft.stories[1]?.dependsOn).toEqual(["US-001"]);
    expect(state.report.readiness).toBe("pass");
    // A dependency back the other way is a cycle, shown on the picker.
    state = run(state, { type: "focusPrev" }, { type: "prevStory" }, next, next, next, { type: "toggleOption" });
    expect(state.focus).toEqual({ kind: "deps", story: 0 });
    expect(diagnosticsAt(state.report, "story 0 deps")[0]?.diagnostic.code).toBe("prd_dependency_cycle");
    state = run(state, { type: "toggleOption" });
    expect(state.report.readiness).toBe("pass");
  });

  test("moveOption wraps over the picker's ids", () => {
    let state = run(readyState(), { type: "addStory" }, { type: "addStory" });
    state = run(state, { type: "focusPrev" });
    expect(state.focus).toEqual({ kind: "deps", story: 1 });
    state = run(state, { type: "moveOption", delta: 1 }, { type: "toggleOption" });
    expect(state.draft.stories[1]?.dependsOn).toEqual(["US-003"]);
    state = run(state, { type: "moveOption", delta: 1 }, { type: "toggleOption" });
    expect(state.draft.stories[1]?.dependsOn).toEqual(["US-003", "US-001"]);
  });

  test("ctrl+x removes the story and the dependencies on it; ids are not reused by shifting", () => {
    let state = run(readyState(), { type: "addStory" }, { type: "addStory" });
    state = run(state, { type: "focusPrev" }, { type: "toggleOption" }); // US-002 depends on US-001
    state = run(state, { type: "prevStory" }, { type: "removeStory" });
    expect(state.draft.stories.map((s) => s.id)).toEqual(["US-002", "US-003"]);
    expect(state.draft.stories[0]?.dependsOn).toEqual([]);
    expect(state.focus).toEqual({ kind: "title", story: 0 });
    state = run(state, { type: "addStory" });
    expect(state.draft.stories.map((s) => s.id)).toEqual(["US-002", "US-003", "US-004"]);
  });

  test("ctrl+a adds an entry after a non-empty one, and only then; ctrl+d deletes it", () => {
    let state = run(readyState(), { type: "addEntry" });
    expect(state.focus).toEqual({ kind: "criterion", story: 0, index: 1 });
    state = run(state, { type: "addEntry" });
    expect(state.notice).toBe("Type into this entry first.");
    state = run(state, type("Shows prices"));
    expect(wizardResult(state).stories[0]?.acceptanceCriteria).toEqual(["GET /products returns 200", "Shows prices"]);
    state = run(state, { type: "removeEntry" });
    expect(wizardResult(state).stories[0]?.acceptanceCriteria).toEqual(["GET /products returns 200"]);
    expect(state.focus).toEqual({ kind: "criterion", story: 0, index: 0 });
    // On a story's title, ctrl+a goes to (or adds) a criterion of that story.
    state = run(state, { type: "prevStory" }, { type: "addEntry" });
    expect(state.focus).toEqual({ kind: "criterion", story: 0, index: 1 });
  });

  test("blank entries are never written", () => {
    const state = run(readyState(), { type: "addEntry" });
    expect(state.draft.stories[0]?.acceptanceCriteria).toEqual(["GET /products returns 200", ""]);
    expect(wizardResult(state).stories[0]?.acceptanceCriteria).toEqual(["GET /products returns 200"]);
  });

  test("tab wraps within a step; esc goes back a step; backspace deletes a character", () => {
    let state = run(initialWizardState(), type("Shoq"), { type: "backspace" }, type("p"));
    expect(state.draft.project).toBe("Shop");
    state = run(state, { type: "focusNext" }, { type: "focusNext" });
    expect(state.focus).toEqual({ kind: "project" });
    state = run(state, { type: "focusPrev" });
    expect(state.focus).toEqual({ kind: "overview" });
    state = run(state, { type: "back" });
    expect(state.notice).toMatch(/first step/);
    state = run(state, next, next);
    expect(state.step).toBe("goals");
    state = run(state, { type: "back" });
    expect(state).toMatchObject({ step: "project", focus: { kind: "project" } });
  });

  test("pasted line breaks become spaces and control characters are dropped", () => {
    const state = run(initialWizardState(), type("Two\r\nlines\u0007"));
    expect(state.draft.project).toBe("Two lines");
  });

  test("ctrl+e goes to the next error, in step order, wrapping", () => {
    let state = run(readyState(), { type: "clear" }, { type: "review" });
    state = run(state, { type: "back" }, { type: "back" }, { type: "back" }); // goals
    state = run(state, { type: "nextError" });
    expect(state).toMatchObject({ step: "stories", focus: { kind: "criterion", story: 0, index: 0 } });
    state = run(state, type("ok"), { type: "review" }, { type: "nextError" });
    expect(state.notice).toBe("No errors.");
  });

  test("an initial PRD opens on the review step; blank and duplicate ids get new ones", () => {
    const initial = parsePrd(
      JSON.stringify({
        project: "P",
        qualityGates: ["make"],
        stories: [
          { id: "US-001", title: "a", acceptanceCriteria: ["x"] },
          { id: "US-001", title: "b", acceptanceCriteria: ["y"] },
          { id: "", title: "c", acceptanceCriteria: [] },
          { id: "US-007", title: "d", acceptanceCriteria: ["z"], dependsOn: ["US-001"] },
        ],
      }),
    );
    expect(validatePrd(initial).errors.map((d) => d.code)).toContain("prd_duplicate_story_id");
    const state = initialWizardState(initial);
    expect(state.step).toBe("review");
    expect(state.focus).toBeUndefined();
    expect(state.draft.stories.map((s) => s.id)).toEqual(["US-001", "US-008", "US-009", "US-007"]);
    expect(state.report.errors.map((d) => [d.code, anchorOfPath(d.path)])).toEqual([
      ["prd_no_acceptance_criteria", "story 2 criteria"],
    ]);
    expect(describeAnchor("story 2 criteria", state.draft)).toBe("Stories › US-009 › acceptance criteria");
  });

  test("diagnostic paths map to the fields that show them", () => {
    expect(anchorOfPath("project")).toBe("project");
    expect(anchorOfPath("qualityGates")).toBe("qualityGates");
    expect(anchorOfPath("stories")).toBe("stories");
    expect(anchorOfPath("stories[3].dependsOn[0]")).toBe("story 3 deps");
    expect(anchorOfPath("stories[0].id")).toBe("story 0");
    expect(anchorOfPath("stories[0].title")).toBe("story 0 title");
    expect(anchorOfPath("uiNotes")).toBe("document");
    expect(anchorOfPath("")).toBe("document");
    expect(describeAnchor("project", initialWizardState().draft)).toBe("Project › project name");
    expect(describeAnchor("qualityGates", initialWizardState().draft)).toBe("Quality gates");
  });

  test("after the wizard finished or quit, actions change nothing", () => {
    const quit = run(initialWizardState(), { type: "cancel" });
    expect(quit.outcome).toBe("cancelled");
    expect(run(quit, type("x"))).toBe(quit);
  });
});
