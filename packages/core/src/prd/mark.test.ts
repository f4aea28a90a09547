import { describe, expect, it } from "vitest";
import { SmithError } from "../errors.ts";
import { markStory } from "./mark.ts";
import type { PrdStoryStatus } from "./model.ts";
import { parsePrd } from "./parse.ts";
import { serializePrd } from "./serialize.ts";
import { altSmithText, ralphText, richSmithText } from "./testFixtures.ts";

const T1 = "2025-03-01T10:00:00.000Z";
const T2 = "2025-03-01T11:00:00.000Z";

describe("markStory", () => {
  it("sets startedAt and updatedAt when a smith story starts", () => {
    const prd = markStory(parsePrd(richSmithText), "US-003", "in_progress", T1);
    expect(prd.stories[2]).toMatchObject({ status: "in_progress", startedAt: T1, updatedAt: T1 });
    expect(prd.stories[2]?.completedAt).toBeUndefined();
  });

  it("sets completedAt when done and keeps the first startedAt", () => {
    const started = markStory(parsePrd(richSmithText), "US-003", "in_progress", T1);
    const done = markStory(started, "US-003", "done", T2);
    expect(done.stories[2]).toMatchObject({ status: "done", startedAt: T1, completedAt: T2, updatedAt: T2 });
  });

  it("clears startedAt and completedAt when a done story is reopened", () => {
    const prd = markStory(parsePrd(richSmithText), "US-001", "open", T1);
    const story = prd.stories[0];
    expect(story).toMatchObject({ status: "open", updatedAt: T1 });
    expect(story && "startedAt" in story).toBe(false);
    expect(story && "completedAt" in story).toBe(false);
  });

  it("keeps null timestamps null when a document writes 'not yet' as null", () => {
    const done = markStory(parsePrd(altSmithText), "CAL-1", "done", T1);
    expect(done.stories[0]).toMatchObject({ startedAt: null, completedAt: T1 });
    const reopened = markStory(done, "CAL-1", "open", T2);
    expect(reopened.stories[0]).toMatchObject({ startedAt: null, completedAt: null });
  });

  it("does not change the PRD it is given", () => {
    const prd = parsePrd(richSmithText);
    const before = structuredClone(prd);
    const next = markStory(prd, "US-003", "done", T1);
    expect(prd).toStrictEqual(before);
    expect(next).not.toBe(prd);
    expect(next.stories[0]).toBe(prd.stories[0]);
  });

  it("returns the same PRD when the status is unchanged, so a retried finalize keeps timestamps", () => {
    const prd = parsePrd(richSmithText);
    expect(markStory(prd, "US-001", "done", T1)).toBe(prd);
  });

  it("records only passes for a ralph story: the shape has no timestamps", () => {
    const prd = markStory(parsePrd(ralphText), "US-003", "done", T1);
    expect(prd.stories[2]).toMatchObject({ status: "done" });
    expect(prd.stories[2]?.updatedAt).toBeUndefined();
    expect(serializePrd(prd)).toContain('"priority": 4,\n      "passes": true,');
  });

  it("throws not_found for an unknown story id", () => {
    const err = (() => {
      try {
        markStory(parsePrd(ralphText), "US-404", "done");
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SmithError);
    expect(err).toMatchObject({ code: "not_found", details: { field: "storyId" } });
  });

  it("throws invalid_argument for a status outside the enum", () => {
    expect(() => markStory(parsePrd(ralphText), "US-002", "blocked" as PrdStoryStatus)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });

  it("stamps the current time when no time is given", () => {
    const prd = markStory(parsePrd(richSmithText), "US-003", "in_progress");
    expect(Date.parse(prd.stories[2]?.startedAt ?? "")).not.toBeNaN();
  });
});
