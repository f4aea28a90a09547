import { parsePrd } from "@smith/core";
import { describe, expect, it } from "vitest";
import { buildPrompt } from "./prompt.ts";

const prd = parsePrd(
  JSON.stringify({
    project: "calc",
    overview: "A calculator.",
    goals: ["correct"],
    qualityGates: ["npm test"],
    stories: [
      { id: "US-001", title: "Add", status: "done", acceptanceCriteria: ["adds"] },
      {
        id: "US-002",
        title: "Sub",
        status: "open",
        description: "Subtract.",
        acceptanceCriteria: ["subtracts", "has a test"],
      },
    ],
  }),
);

describe("prompt", () => {
  it("carries the PRD context, the story and its criteria, notes, handoff, steering and the last failure", () => {
    const story = prd.stories[1];
    if (!story) throw new Error("fixture");
    const text = buildPrompt({
      prd,
      story,
      gates: ["npm test", "npm run lint"],
      prdPath: ".agents/tasks/prd.json",
      progressNotes: "learned: use node:test",
      handoff: {
        schemaVersion: 1,
        loopId: "01jz0000000000000000000000",
        attempt: 1,
        createdAt: new Date().toISOString(),
        done: ["US-001: Add"],
        remaining: ["US-002: Sub"],
        decisions: ["kept it small"],
        uncertain: [],
        diffSummary: "",
        validation: { state: "passed", details: "" },
        nextSteps: ["finish US-002"],
        artifactRefs: [],
      },
      steering: [{ message: "prefer pure functions", actor: "alice", at: "2026-01-01T00:00:00Z" }],
      iteration: 4,
      attempt: 2,
      lastFailure: "quality gate `npm test` failed",
    });
    for (const part of [
      "# Project: calc",
      "A calculator.",
      "- `npm test`",
      "- `npm run lint`",
      "US-001 Add",
      "## Your story: US-002: Sub",
      "Subtract.",
      "- subtracts",
      "- has a test",
      "learned: use node:test",
      "## Handoff from attempt 1",
      "kept it small",
      "prefer pure functions",
      "previous iteration on this story failed",
      "(iteration 4, attempt 2)",
      "Do not commit",
    ]) {
      expect(text).toContain(part);
    }
  });

  it("puts a person's answer under its question, apart from operator messages, and tells how to ask", () => {
    const story = prd.stories[1];
    if (!story) throw new Error("fixture");
    const text = buildPrompt({
      prd,
      story,
      gates: [],
      prdPath: ".agents/tasks/prd.json",
      progressNotes: "",
      steering: [
        { message: "prefer pure functions", actor: "alice", at: "2026-01-01T00:00:00Z" },
        { message: "v2", actor: "bob", at: "2026-01-01T00:01:00Z", question: "Which API version?" },
      ],
      iteration: 5,
      attempt: 3,
    });
    expect(text).toContain("SMITH-QUESTION: <your question>");
    const answers = text.indexOf("## Answers from a person");
    const messages = text.indexOf("## Messages from the operator");
    expect(answers).toBeGreaterThan(0);
    expect(text.slice(answers, messages)).toContain(
      "Question: Which API version?\nAnswer (bob, 2026-01-01T00:01:00Z): v2",
    );
    expect(text.slice(messages)).toContain("- (alice, 2026-01-01T00:00:00Z) prefer pure functions");
    expect(text.slice(messages)).not.toContain("v2");
  });
});
