import { describe, expect, it } from "vitest";
import { markStory } from "./mark.ts";
import type { Prd } from "./model.ts";
import { parsePrd, parsePrdObject } from "./parse.ts";
import { prdToDocument, serializePrd } from "./serialize.ts";
import { altSmithDocument, altSmithText, ralphText, richSmithText } from "./testFixtures.ts";

describe("serializePrd", () => {
  it.each([
    ["rich smith", richSmithText],
    ["alternative-forms smith", altSmithText],
    ["ralph", ralphText],
  ])("gives back the %s PRD byte for byte, extra keys and key order included", (_name, text) => {
    expect(serializePrd(parsePrd(text))).toBe(text);
  });

  it("changes only the story's passes line when a ralph story is marked done", () => {
    const before = ralphText.split("\n");
    const after = serializePrd(markStory(parsePrd(ralphText), "US-002", "done")).split("\n");
    const changed = after.flatMap((line, i) => (line === before[i] ? [] : [[before[i], line]]));
    expect(after).toHaveLength(before.length);
    expect(changed).toEqual([['      "passes": false,', '      "passes": true,']]);
  });

  it("changes only status and timestamp lines when a smith story is marked done", () => {
    const at = "2025-02-01T12:00:00.000Z";
    const after = serializePrd(markStory(parsePrd(richSmithText), "US-002", "done", at));
    const expected = richSmithText
      .replace('"status": "in_progress"', '"status": "done"')
      .replace(
        '"updatedAt": "2025-01-08T08:00:00.000Z",\n      "startedAt": "2025-01-08T08:00:00.000Z",',
        `"updatedAt": "${at}",\n      "startedAt": "2025-01-08T08:00:00.000Z",\n      "completedAt": "${at}",`,
      );
    expect(expected).not.toBe(richSmithText);
    expect(after).toBe(expected);
  });

  it("writes keys that were missing as the shape's defaults, which read back the same", () => {
    const prd = parsePrdObject({ project: "P", stories: [{ id: "S-1", title: "T", acceptanceCriteria: ["c"] }] });
    const document = prdToDocument(prd);
    expect(Object.keys(document)).toEqual(["project", "overview", "goals", "nonGoals", "qualityGates", "stories"]);
    expect(parsePrd(serializePrd(prd))).toStrictEqual(prd);
  });

  it("writes an in_progress ralph story as passes: false, the only way the shape can say it", () => {
    const prd = markStory(parsePrd(ralphText), "US-002", "in_progress");
    const stories = prdToDocument(prd)["userStories"];
    expect(Array.isArray(stories) && stories[1]).toMatchObject({ id: "US-002", passes: false });
  });

  it("writes a context block of an unexpected form back verbatim, in its place", () => {
    const document = { ...altSmithDocument, uiNotes: 42 };
    const text = `${JSON.stringify(document, null, 2)}\n`;
    expect(serializePrd(parsePrd(text))).toBe(text);
  });

  it("writes a PRD built in code in the shape's usual order, with a trailing newline", () => {
    const prd: Prd = {
      format: "ralph",
      project: "P",
      overview: "D",
      branchName: "ralph/p",
      goals: [],
      nonGoals: [],
      qualityGates: [],
      stories: [
        {
          id: "US-1",
          title: "T",
          description: "",
          acceptanceCriteria: ["c"],
          status: "open",
          dependsOn: [],
          priority: 1,
          extra: {},
          keyOrder: [],
        },
      ],
      extra: { owner: "me" },
      keyOrder: [],
    };
    const text = serializePrd(prd);
    expect(text.endsWith("}\n")).toBe(true);
    expect(JSON.parse(text)).toEqual({
      project: "P",
      branchName: "ralph/p",
      description: "D",
      userStories: [{ id: "US-1", title: "T", description: "", acceptanceCriteria: ["c"], priority: 1, passes: false }],
      owner: "me",
    });
    expect(Object.keys(JSON.parse(text) as object)).toEqual([
      "project",
      "branchName",
      "description",
      "userStories",
      "owner",
    ]);
  });

  it("writes quality gates added to a ralph PRD, so they are not lost", () => {
    const prd = { ...parsePrd(ralphText), qualityGates: ["npm test"] };
    expect(prdToDocument(prd)["qualityGates"]).toEqual(["npm test"]);
    expect(parsePrd(serializePrd(prd)).qualityGates).toEqual(["npm test"]);
  });
});
