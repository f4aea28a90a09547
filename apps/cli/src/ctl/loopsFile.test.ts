import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.ts";
import { parseLoopsFile } from "./loopsFile.ts";

describe("parseLoopsFile", () => {
  it("reads a YAML list, a JSON list, or either under items", () => {
    const yaml =
      "- spec:\n    repo: { url: https://x/a.git }\n    prd: { kind: path }\n- spec:\n    repo: { url: https://x/b.git }\n    prd: { kind: path }\n  priority: 5\n";
    expect(parseLoopsFile(yaml, "l.yaml")).toEqual([
      { spec: { repo: { url: "https://x/a.git" }, prd: { kind: "path" } } },
      { spec: { repo: { url: "https://x/b.git" }, prd: { kind: "path" } }, priority: 5 },
    ]);
    expect(parseLoopsFile('[{"spec":{}}]', "l.json")).toEqual([{ spec: {} }]);
    expect(parseLoopsFile("items:\n  - spec: {}\n", "l.yaml")).toEqual([{ spec: {} }]);
  });

  it.each([
    ["a: [", /l\.yaml is not valid YAML or JSON/],
    ["spec: {}", /must hold a list of loops/],
    ["[]", /holds no loops/],
    ["- 1\n", /item 0 is not an object/],
  ])("refuses %j as a usage error", (text, message) => {
    expect(() => parseLoopsFile(text, "l.yaml")).toThrow(UsageError);
    expect(() => parseLoopsFile(text, "l.yaml")).toThrow(message);
  });
});
