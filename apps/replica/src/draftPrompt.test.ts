import { describe, expect, it } from "vitest";
import { buildDraftPrompt, DRAFT_HEADING } from "./draftPrompt.ts";

const issue = {
  ref: "acme/app#7",
  url: "https://github.com/acme/app/issues/7",
  title: "Export widgets",
  body: "Widgets should be exportable.",
  labels: ["smith", "feature"],
  comments: [{ author: "maintainer", body: "Also add an export button" }],
};

describe("buildDraftPrompt", () => {
  it("asks for the PRD file alone, in Smith's shape, with the issue fenced as data", () => {
    const prompt = buildDraftPrompt({ issue, prdPath: ".agents/tasks/prd.json", gates: ["npm test"] });
    expect(prompt.startsWith(DRAFT_HEADING)).toBe(true);
    expect(prompt).toContain("Write the PRD as JSON to .agents/tasks/prd.json");
    expect(prompt).toContain("change nothing except the PRD file");
    expect(prompt).toContain('"qualityGates": [\n    "npm test"\n  ]');
    const fenced = prompt.slice(prompt.indexOf("<<<ISSUE"), prompt.indexOf("ISSUE>>>"));
    expect(fenced).toContain("Title: Export widgets");
    expect(fenced).toContain("Labels: smith, feature");
    expect(fenced).toContain("--- comment by maintainer\nAlso add an export button");
    expect(prompt).toContain("SMITH-QUESTION:");
  });

  it("bounds the issue text: a huge body keeps its end, within the prompt's budget", () => {
    const prompt = buildDraftPrompt({
      issue: { ...issue, body: "x".repeat(200_000) + "THE END", comments: [] },
      prdPath: "prd.json",
      gates: [],
    });
    expect(prompt.length).toBeLessThan(40_000);
    expect(prompt).toContain("THE END");
    expect(prompt).toContain("<shell commands that check the work");
  });
});
