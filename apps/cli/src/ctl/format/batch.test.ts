import { describe, expect, it } from "vitest";
import { batchResultTable, batchSummary, type BatchItemResult } from "./batch.ts";
import { SAMPLE_ID } from "./testSupport.ts";

const cells = (table: string, line: number) => table.split("\n")[line]?.split(/\s{3,}/);

describe("batch results", () => {
  const results: BatchItemResult[] = [
    { index: 0, ok: true, created: true, loop: { id: SAMPLE_ID } },
    { index: 1, ok: true, created: false, loop: { id: "01jz0000000000000000000001" } },
    { index: 2, ok: false, error: { code: "conflict", message: "lost a race" } },
  ];
  it("a row per item in file order, and a summary", () => {
    const table = batchResultTable(results);
    expect(cells(table, 1)).toEqual(["0", SAMPLE_ID, "created", "-"]);
    expect(cells(table, 2)).toEqual(["1", "01jz0000000000000000000001", "exists", "-"]);
    expect(cells(table, 3)).toEqual(["2", "-", "failed", "conflict: lost a race"]);
    expect(batchSummary(results)).toBe("3 loops: 1 created, 1 existing, 1 failed");
  });
});
