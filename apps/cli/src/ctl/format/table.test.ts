import { describe, expect, it } from "vitest";
import { formatAge, formatDuration, formatUsd, renderRow, renderTable, truncate } from "./table.ts";

describe("renderTable", () => {
  it("pads every column to its widest cell, three spaces apart, without trailing spaces", () => {
    expect(
      renderTable(
        ["ID", "STATE", "AGE"],
        [
          ["a", "running", "5s"],
          ["bbbb", "synced", "12m"],
        ],
      ).split("\n"),
    ).toEqual(["ID     STATE     AGE", "a      running   5s", "bbbb   synced    12m"]);
  });

  it("prints only the header for no rows, and tolerates short rows", () => {
    expect(renderTable(["A", "B"], [])).toBe("A   B");
    expect(renderTable(["A", "B"], [["x"]])).toBe("A   B\nx");
  });
});

describe("renderRow", () => {
  it("uses the given widths; a longer cell pushes the rest of its row", () => {
    expect(renderRow(["a", "b", "c"], [3, 3, 3])).toBe("a     b     c");
    expect(renderRow(["abcdef", "b", "c"], [3, 3, 3])).toBe("abcdef   b     c");
  });
});

describe("cells", () => {
  it.each([
    [0, "0s"],
    [119_999, "119s"],
    [120_000, "2m"],
    [7_199_000, "119m"],
    [7_200_000, "2h"],
    [47 * 3600_000, "47h"],
    [48 * 3600_000, "2d"],
    [800 * 86400_000, "2y"],
    [-5000, "0s"],
  ])("formatAge(%i) = %s", (ms, age) => expect(formatAge(ms)).toBe(age));

  it("formats money, durations and cut cells", () => {
    expect(formatUsd(0)).toBe("$0.00");
    expect(formatUsd(0.0042)).toBe("$0.0042");
    expect(formatUsd(12.345)).toBe("$12.35");
    expect(formatDuration(4 * 3600_000)).toBe("4h");
    expect(formatDuration(90_000)).toBe("1m30s");
    expect(formatDuration(0)).toBe("0s");
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("abc", 4)).toBe("abc");
  });
});
