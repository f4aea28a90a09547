import { describe, expect, it } from "vitest";
import { utf8Length } from "./errors.ts";
import { LIMITS, tailText } from "./limits.ts";

const MARKER = /^\[… (\d+) bytes truncated …\]\n/;

function bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Splits a tailText result into the number of bytes it says it cut and the text it kept. */
function parseTail(result: string): { cut: number; kept: string } {
  const match = MARKER.exec(result);
  if (!match) throw new Error(`no truncation marker in ${JSON.stringify(result.slice(0, 60))}`);
  return { cut: Number(match[1]), kept: result.slice(match[0].length) };
}

/** Checks every promise tailText makes about a text that had to be cut. */
function expectTail(text: string, maxBytes: number): { cut: number; kept: string } {
  const result = tailText(text, maxBytes);
  expect(bytes(result)).toBeLessThanOrEqual(maxBytes);
  expect(result).not.toContain("\uFFFD");
  const { cut, kept } = parseTail(result);
  expect(text.endsWith(kept)).toBe(true);
  expect(cut + bytes(kept)).toBe(bytes(text));
  expect(cut).toBeGreaterThan(0);
  return { cut, kept };
}

describe("tailText", () => {
  it("keeps text that fits unchanged", () => {
    expect(tailText("", 100)).toBe("");
    expect(tailText("hello", 100)).toBe("hello");
    expect(tailText("x".repeat(100), 100)).toBe("x".repeat(100));
    // 25 emoji are exactly 100 bytes.
    expect(tailText("😀".repeat(25), 100)).toBe("😀".repeat(25));
  });

  it("defaults to LIMITS.outputTailBytes", () => {
    const fits = "a".repeat(LIMITS.outputTailBytes);
    expect(tailText(fits)).toBe(fits);
    const long = "a".repeat(LIMITS.outputTailBytes + 1);
    const result = tailText(long);
    expect(bytes(result)).toBeLessThanOrEqual(LIMITS.outputTailBytes);
    expect(parseTail(result).cut + bytes(parseTail(result).kept)).toBe(long.length);
  });

  it("keeps the tail of long text, under maxBytes, with a marker naming the bytes cut", () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}`).join("\n");
    const { kept, cut } = expectTail(lines, 1024);
    expect(kept.endsWith("line 999")).toBe(true);
    expect(kept).not.toContain("line 0\n");
    expect(cut).toBe(bytes(lines) - bytes(kept));
  });

  it("truncates text one byte over the limit", () => {
    expectTail("y".repeat(101), 100);
  });

  const scripts = [
    { name: "emoji (4-byte)", unit: "😀🚀🧪" },
    { name: "CJK (3-byte)", unit: "漢字テスト" },
    { name: "Latin-1 accents (2-byte)", unit: "éàüß" },
    { name: "mixed widths", unit: "a😀é漢 " },
    { name: "combining and ZWJ sequences", unit: "e\u0301👩‍💻" },
  ];

  it.each(scripts)("never splits a multi-byte character: $name, at every cut offset", ({ unit }) => {
    const text = unit.repeat(200);
    // Every maxBytes in a window wider than the longest character hits every alignment.
    for (let maxBytes = 48; maxBytes < 120; maxBytes++) {
      const { kept } = expectTail(text, maxBytes);
      // Re-encoding what was kept gives the same bytes: no half characters were decoded.
      expect(new TextDecoder("utf-8", { fatal: true }).decode(new TextEncoder().encode(kept))).toBe(kept);
    }
  });

  it("uses most of the space it has: only the marker's reserve and part of one character go unused", () => {
    const text = "😀".repeat(1000);
    for (let maxBytes = 100; maxBytes < 110; maxBytes++) {
      const result = tailText(text, maxBytes);
      expect(bytes(result)).toBeGreaterThan(maxBytes - 32);
      expect(bytes(parseTail(result).kept) % 4).toBe(0);
    }
  });
});

describe("utf8Length", () => {
  const cases = [
    { name: "empty", text: "" },
    { name: "ASCII", text: "hello, world\n\t~" },
    { name: "2-byte", text: "é ß ü ñ Ω ж" },
    { name: "3-byte", text: "漢字 テスト € ✓ \uFFFF" },
    { name: "boundaries", text: "\u007F\u0080\u07FF\u0800\uD7FF\uE000" },
    { name: "surrogate pair", text: "😀🚀 𝔘𝔫𝔦" },
    { name: "lone high surrogate at the end", text: "abc\uD83D" },
    { name: "lone high surrogate before ASCII", text: "\uD83Dabc" },
    { name: "lone low surrogate", text: "x\uDE00y" },
    { name: "reversed pair", text: "\uDE00\uD83D" },
    { name: "two high surrogates then a low one", text: "\uD83D\uD83D\uDE00" },
  ];

  it.each(cases)("equals Buffer.byteLength: $name", ({ text }) => {
    expect(utf8Length(text)).toBe(bytes(text));
  });

  it("equals Buffer.byteLength on random strings of arbitrary UTF-16 code units", () => {
    // Seeded LCG, so a failure can be replayed; weighted towards the surrogate range.
    let seed = 12345;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let n = 0; n < 500; n++) {
      const units: number[] = [];
      const length = Math.floor(next() * 40);
      for (let i = 0; i < length; i++) {
        const r = next();
        units.push(r < 0.3 ? 0xd800 + Math.floor(next() * 0x800) : Math.floor(next() * 0x10000));
      }
      const text = String.fromCharCode(...units);
      expect(utf8Length(text), JSON.stringify(text)).toBe(bytes(text));
    }
  });
});
