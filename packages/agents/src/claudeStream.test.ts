import { describe, expect, it } from "vitest";
import { ClaudeStreamParser } from "./claudeStream.ts";
import { summarizeToolInput } from "./toolInput.ts";

const line = (value: unknown): string => JSON.stringify(value);

describe("ClaudeStreamParser", () => {
  it("reads an error result: errors as summary, is_error, cost and cached tokens", () => {
    const parser = new ClaudeStreamParser();
    const events = parser.parse(
      line({
        type: "result",
        subtype: "error_max_turns",
        is_error: false,
        total_cost_usd: 1.5,
        usage: { input_tokens: 10, cache_read_input_tokens: 1000, output_tokens: 5 },
        errors: ["Reached maximum number of turns (30)"],
      }),
    );
    expect(events).toEqual([{ type: "usage", inputTokens: 1010, outputTokens: 5, usd: 1.5 }]);
    expect(parser.outcome()).toEqual({
      inputTokens: 1010,
      outputTokens: 5,
      usd: 1.5,
      summary: "Reached maximum number of turns (30)",
      isError: true,
    });
  });

  it("logs API retries and skips other system and unknown message types", () => {
    const parser = new ClaudeStreamParser();
    expect(
      parser.parse(line({ type: "system", subtype: "api_retry", attempt: 2, max_retries: 10, error: "overloaded" })),
    ).toEqual([{ type: "log", stream: "stdout", line: "api retry 2/10: overloaded" }]);
    expect(parser.parse(line({ type: "system", subtype: "init", model: "m" }))).toEqual([]);
    expect(parser.parse(line({ type: "stream_event", event: {} }))).toEqual([]);
    expect(parser.parse("plain text")).toBeUndefined();
    expect(parser.parse("[1,2]")).toBeUndefined();
    expect(parser.outcome().isError).toBe(true);
  });

  it("leaves JSON of other shapes to the caller when it does not own all JSON", () => {
    const parser = new ClaudeStreamParser({ ownsAllJson: false });
    expect(parser.parse(line({ type: "stream_event" }))).toBeUndefined();
    expect(parser.parse(line({ level: "info" }))).toBeUndefined();
    expect(parser.sawResult).toBe(false);
  });

  it("summarizes tool inputs by what they are about, bounded", () => {
    expect(summarizeToolInput({ command: "npm test", description: "Run" })).toBe("npm test");
    expect(summarizeToolInput({ pattern: "TODO", path: "src" })).toBe("TODO in src");
    expect(summarizeToolInput({ todos: [{ content: "a" }] })).toBe('{"todos":[{"content":"a"}]}');
    expect(summarizeToolInput({})).toBeUndefined();
    expect(Buffer.byteLength(summarizeToolInput({ command: "x".repeat(10_000) }) ?? "")).toBeLessThanOrEqual(512);
  });
});
