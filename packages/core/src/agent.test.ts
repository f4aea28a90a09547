import { describe, expect, it } from "vitest";
import { questionFrom } from "./agent.ts";

describe("questionFrom", () => {
  it.each([
    { name: "no text", text: undefined, want: undefined },
    { name: "no marker", text: "All done.\nTests pass.", want: undefined },
    { name: "a marked line", text: "I stopped.\nSMITH-QUESTION: Which API version?\n", want: "Which API version?" },
    { name: "markdown around the marker", text: "> **SMITH-QUESTION: Keep v1?**", want: "Keep v1?**" },
    { name: "the last of two", text: "SMITH-QUESTION: first?\nSMITH-QUESTION: second?", want: "second?" },
    { name: "a blank question", text: "SMITH-QUESTION:   ", want: undefined },
    // Prose that mentions the marker is not a question.
    { name: "the marker inside a sentence", text: "I will not write SMITH-QUESTION: here", want: undefined },
    { name: "CRLF line ends", text: "x\r\nSMITH-QUESTION: why?\r\n", want: "why?" },
  ])("$name", ({ text, want }) => {
    expect(questionFrom(text)).toBe(want);
  });

  it("bounds the question to what the loop status holds", () => {
    expect(questionFrom(`SMITH-QUESTION: ${"q".repeat(5000)}`)).toHaveLength(4000);
  });
});
