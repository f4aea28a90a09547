import { describe, expect, it } from "vitest";
import { markStory } from "./mark.ts";
import { parsePrd, parsePrdObject } from "./parse.ts";
import { nextReadyStory, storyProgress } from "./select.ts";
import { ralphText, richSmithText } from "./testFixtures.ts";

function smith(stories: Array<Record<string, unknown>>) {
  return parsePrdObject({
    project: "P",
    stories: stories.map((s) => ({ title: "T", acceptanceCriteria: ["c"], ...s })),
  });
}

describe("nextReadyStory", () => {
  it("picks the first open story, in document order, whose dependencies are done", () => {
    const prd = smith([
      { id: "S-1", status: "done" },
      { id: "S-2", dependsOn: ["S-3"] },
      { id: "S-3", dependsOn: ["S-1"] },
      { id: "S-4" },
    ]);
    expect(nextReadyStory(prd)?.id).toBe("S-3");
  });

  it("resumes an in_progress story before an earlier ready open story", () => {
    const prd = smith([{ id: "S-1" }, { id: "S-2", status: "in_progress" }]);
    expect(nextReadyStory(prd)?.id).toBe("S-2");
  });

  it("resumes the in_progress story of the rich fixture", () => {
    expect(nextReadyStory(parsePrd(richSmithText))?.id).toBe("US-002");
  });

  it("never treats a dependency on an unknown id as done", () => {
    const prd = smith([
      { id: "S-1", dependsOn: ["S-9"] },
      { id: "S-2", dependsOn: ["S-1"] },
    ]);
    expect(nextReadyStory(prd)).toBeUndefined();
  });

  it("orders ralph stories by priority number, not document order", () => {
    // US-001 passes; the rest have priorities 2, 4, 3.
    const prd = parsePrd(ralphText);
    expect(nextReadyStory(prd)?.id).toBe("US-002");
    expect(nextReadyStory(markStory(prd, "US-002", "done"))?.id).toBe("US-004");
  });

  it("puts stories with a priority before those without, and keeps document order on ties", () => {
    const prd = smith([
      { id: "S-1" },
      { id: "S-2", priority: 5 },
      { id: "S-3", priority: 5 },
      { id: "S-4", priority: 9 },
    ]);
    expect(nextReadyStory(prd)?.id).toBe("S-2");
    expect(nextReadyStory(markStory(prd, "S-2", "done"))?.id).toBe("S-3");
    const rest = markStory(markStory(markStory(prd, "S-2", "done"), "S-3", "done"), "S-4", "done");
    expect(nextReadyStory(rest)?.id).toBe("S-1");
  });

  it("returns undefined when every story is done", () => {
    const prd = smith([{ id: "S-1", status: "done" }]);
    expect(nextReadyStory(prd)).toBeUndefined();
  });
});

describe("storyProgress", () => {
  it("counts done stories out of all stories", () => {
    expect(storyProgress(parsePrd(richSmithText))).toEqual({ done: 1, total: 4 });
    expect(storyProgress(parsePrd(ralphText))).toEqual({ done: 1, total: 4 });
  });
});
