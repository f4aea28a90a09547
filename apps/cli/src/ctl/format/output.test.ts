import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { formatData, formatStreamItem } from "./output.ts";
import { sampleLoop } from "./testSupport.ts";

describe("formatData", () => {
  const loop = sampleLoop({ spec: { title: "a: title with # and\nnewline" } });

  it("json is the value exactly, pretty-printed", () => {
    expect(JSON.parse(formatData(loop, "json"))).toEqual(loop);
    expect(formatData({ a: 1 }, "json")).toBe('{\n  "a": 1\n}');
  });

  it("yaml round-trips to the same value, quoting what needs it, without folding long lines", () => {
    const text = formatData(loop, "yaml");
    expect(parse(text)).toEqual(loop);
    expect(text).toContain("state: unresolved");
    const long = "x".repeat(300);
    expect(formatData({ long }, "yaml")).toBe(`long: ${long}`);
  });
});

describe("formatStreamItem", () => {
  it("json: one value per line; yaml: documents starting with ---", () => {
    expect(formatStreamItem({ type: "put", n: 1 }, "json")).toBe('{"type":"put","n":1}');
    expect(formatStreamItem({ type: "put", n: 1 }, "yaml")).toBe("---\ntype: put\nn: 1");
  });
});
