import { describe, expect, it } from "vitest";
import { LineSplitter } from "./lineSplitter.ts";

function split(chunks: Buffer[], max = 1024): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter(max, (line) => lines.push(line));
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

describe("LineSplitter", () => {
  it("joins lines across chunks, keeps empty lines, strips CR and delivers a last unterminated line", () => {
    expect(split([Buffer.from("a\r\nb"), Buffer.from("c\n\nd")])).toEqual(["a", "bc", "", "d"]);
    expect(split([Buffer.from("x\n")])).toEqual(["x"]);
  });

  it("decodes a multi-byte character split across chunks", () => {
    const bytes = Buffer.from("é✓\n");
    expect(split([bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)])).toEqual(["é✓"]);
  });

  it("cuts a long line at the bound, on a character boundary, naming what was dropped", () => {
    // 4 × "✓" = 12 bytes; a 7-byte bound keeps two characters (6 bytes) and drops 6.
    expect(split([Buffer.from("✓✓"), Buffer.from("✓✓\nnext\n")], 7)).toEqual([
      "✓✓ [… line truncated: 6 more bytes …]",
      "next",
    ]);
  });
});
