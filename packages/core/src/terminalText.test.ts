import { describe, expect, it } from "vitest";
import { visibleLine, visibleText } from "./terminalText.ts";

// Every character a terminal would act on instead of printing, as an agent could write it.
const HOSTILE: [string, string][] = [
  ["\u001b[2J", "\\x1b[2J"],
  ["\u001b]0;x\u0007", "\\x1b]0;x\\x07"],
  ["fail\r ALL TESTS PASSED", "fail\\r ALL TESTS PASSED"],
  ["abc\b\b\bxyz", "abc\\x08\\x08\\x08xyz"],
  ["\u0000\u007f", "\\x00\\x7f"],
  ["\u009b2J \u0085", "\\x9b2J \\x85"],
  ["evil\u202etxt.exe", "evil\\u202etxt.exe"],
  ["\u2066a\u2069 \u200f \u061c", "\\u2066a\\u2069 \\u200f \\u061c"],
  ["a\u2028b\ufeff", "a\\u2028b\\ufeff"],
];

describe("visibleText", () => {
  it.each(HOSTILE)("shows %j as %j", (raw, shown) => {
    expect(visibleText(raw)).toBe(shown);
  });

  it("keeps newlines and tabs where they are and turns CRLF into a newline", () => {
    expect(visibleText("a\n\tb\r\nc\r")).toBe("a\n\tb\nc\\r");
  });

  it("leaves printable text, accents, emoji and backslashes alone", () => {
    const text = "Ünïcode ✓ 👩‍💻 C:\\path \\x1b literal";
    expect(visibleText(text)).toBe(text);
  });

  it("is idempotent and leaves no control character but newline and tab", () => {
    const all = Array.from({ length: 0x2070 }, (_, i) => String.fromCharCode(i)).join("");
    const once = visibleText(all);
    expect(visibleText(once)).toBe(once);
    // eslint-disable-next-line no-control-regex -- the assertion is about control characters
    expect(once).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });
});

describe("visibleLine", () => {
  it.each(HOSTILE)("shows %j as %j", (raw, shown) => {
    expect(visibleLine(raw)).toBe(shown);
  });

  it("shows newlines and tabs as escapes, CRLF as one newline", () => {
    expect(visibleLine("a\n\tb\r\nc")).toBe("a\\n\\tb\\nc");
  });

  it("never returns a line break", () => {
    expect(visibleLine("x\ny\u2028z\u2029\r")).not.toMatch(/[\n\r\u2028\u2029]/);
  });
});
