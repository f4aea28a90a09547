import { parsePrd } from "@smith/core";
import { describe, expect, test } from "vitest";
import {
  addStory,
  dependencyOptions,
  draftFrom,
  emptyPrd,
  finalPrd,
  newStory,
  nextStoryId,
  removeStory,
  setEntry,
} from "./draft.ts";

describe("wizard draft", () => {
  test("story ids continue after the highest US- number, ignoring other ids", () => {
    let prd = addStory(addStory(emptyPrd()));
    expect(prd.stories.map((s) => s.id)).toEqual(["US-001", "US-002"]);
    prd = { ...prd, stories: [...prd.stories, newStory("US-041"), newStory("AUTH-9")] };
    expect(nextStoryId(prd)).toBe("US-042");
    expect(nextStoryId(emptyPrd(), new Set(["US-001"]))).toBe("US-002");
  });

  test("the dependency picker offers the other stories, then unknown ids already depended on", () => {
    const prd = parsePrd(
      JSON.stringify({
        project: "P",
        stories: [
          { id: "US-001", title: "a", dependsOn: ["US-009"] },
          { id: "US-002", title: "b" },
          { id: "", title: "c" },
        ],
      }),
    );
    expect(dependencyOptions(prd, 0)).toEqual(["US-002", "US-009"]);
    expect(dependencyOptions(prd, 1)).toEqual(["US-001"]);
  });

  test("removing a story drops the dependencies on it", () => {
    const prd = parsePrd(JSON.stringify({ project: "P", stories: [{ id: "A" }, { id: "B", dependsOn: ["A"] }] }));
    expect(removeStory(prd, 0).stories).toMatchObject([{ id: "B", dependsOn: [] }]);
  });

  test("a draft from a ralph PRD is written in the Smith shape, keeping its context and extra keys", () => {
    const ralph = parsePrd(
      JSON.stringify({
        project: "P",
        branchName: "ralph/x",
        description: "d",
        owner: "me",
        userStories: [{ id: "S1", title: "t", passes: true, priority: 1 }],
      }),
    );
    const draft = draftFrom(ralph);
    expect(draft).toMatchObject({
      format: "smith",
      overview: "d",
      branchName: "ralph/x",
      extra: { owner: "me" },
      keyOrder: [],
    });
    expect(draft.stories[0]).toMatchObject({ id: "S1", status: "done", priority: 1, keyOrder: [] });
  });

  test("finalPrd drops blank entries; setEntry appends only at the end", () => {
    expect(setEntry(["a"], 1, "b")).toEqual(["a", "b"]);
    expect(setEntry(["a"], 3, "b")).toEqual(["a"]);
    const prd = { ...emptyPrd(), goals: ["", "g", "  "], qualityGates: [""] };
    expect(finalPrd(prd)).toMatchObject({ goals: ["g"], qualityGates: [] });
  });
});
