import { describe, expect, test } from "vitest";
import { balancedObjects, extractPrdJson, fencedBlocks } from "./extract.ts";

const PRD = {
  project: "Shop",
  qualityGates: ["npm test"],
  stories: [{ id: "US-001", title: "a", acceptanceCriteria: ["b"] }],
};

describe("extractPrdJson", () => {
  test("a fenced json block surrounded by prose", () => {
    const text = `Here's the PRD you asked for — I've kept it "small".\n\n\`\`\`json\n${JSON.stringify(PRD, null, 2)}\n\`\`\`\n\nLet me know if you'd like changes.`;
    expect(extractPrdJson(text)).toEqual(PRD);
  });

  test("the last PRD-looking block wins over an earlier example and over non-PRD JSON", () => {
    const draft = { ...PRD, project: "Draft" };
    const text = [
      "First a draft:",
      "```json",
      JSON.stringify(draft),
      "```",
      "Final:",
      "```",
      JSON.stringify(PRD, null, 2),
      "```",
      "```json",
      '{"note": "not a PRD"}',
      "```",
    ].join("\n");
    expect(extractPrdJson(text)).toEqual(PRD);
  });

  test("unfenced JSON in prose, with braces and quotes in the prose around it", () => {
    const text = `Use {id} placeholders, don't "quote" me. ${JSON.stringify(PRD)} That's it {`;
    expect(extractPrdJson(text)).toEqual(PRD);
  });

  test("a broken fenced block falls back to a balanced object elsewhere", () => {
    const text = '```json\n{ "project": "x", stories: [ }\n```\n' + JSON.stringify(PRD);
    expect(extractPrdJson(text)).toEqual(PRD);
  });

  test("braces inside JSON strings do not end the object", () => {
    const prd = { ...PRD, overview: 'uses } and { and \\" inside' };
    expect(extractPrdJson(`prose ${JSON.stringify(prd)} prose`)).toEqual(prd);
  });

  test("no PRD: undefined", () => {
    expect(extractPrdJson("I could not write a PRD, sorry.")).toBeUndefined();
    expect(extractPrdJson('{"ok": true}')).toBeUndefined();
    expect(extractPrdJson("")).toBeUndefined();
  });

  test("helpers: fences with any info string; outermost objects only", () => {
    expect(fencedBlocks("a\n~~~\nx\n~~~\n```jsonc\ny\n```\n")).toEqual(["x\n", "y\n"]);
    expect(balancedObjects('x {"a": {"b": 1}} y {"c": 2}')).toEqual(['{"a": {"b": 1}}', '{"c": 2}']);
  });
});
