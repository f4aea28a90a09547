import { describe, expect, it } from "vitest";
import { ClaudeStreamParser } from "./claudeStream.ts";
import { CodexJsonlParser } from "./codexJsonl.ts";
import { claudeLimit, clockReset, codexLimit } from "./limits.ts";

const line = (value: unknown): string => JSON.stringify(value);
// 2026-04-22 13:39:44 UTC.
const NOW = new Date("2026-04-22T13:39:44.000Z");

describe("reset times said as clock times", () => {
  it.each([
    ["3pm", "America/New_York", "2026-04-22T19:00:00.000Z"],
    // 9am New York has passed at 13:39 UTC (9:39 there): tomorrow's.
    ["9am", "America/New_York", "2026-04-23T13:00:00.000Z"],
    ["Apr 23 at 4pm", "America/Recife", "2026-04-23T19:00:00.000Z"],
    ["6:30 PM", "UTC", "2026-04-22T18:30:00.000Z"],
    ["Dec 5th, 2026 3:15 PM", "Europe/Berlin", "2026-12-05T14:15:00.000Z"],
    ["Jan 2 at 1am", "UTC", "2027-01-02T01:00:00.000Z"],
  ])("%s (%s)", (text, zone, iso) => {
    expect(clockReset(text, NOW, zone)?.toISOString()).toBe(iso);
  });

  it("nothing for what is not a time or an unknown zone", () => {
    expect(clockReset("soon", NOW, "UTC")).toBeUndefined();
    expect(clockReset("15", NOW, "UTC")).toBeUndefined();
    expect(clockReset("3pm", NOW, "Not/AZone")).toBeUndefined();
  });
});

describe("Claude Code's limits", () => {
  it.each([
    ["Claude AI usage limit reached|1753441200", "usage-limit", "2025-07-25T11:00:00.000Z"],
    ["You've hit your limit · resets 3pm (America/New_York)", "usage-limit", "2026-04-22T19:00:00.000Z"],
    ["You've hit your limit · resets Apr 23 at 4pm (America/Recife)", "usage-limit", "2026-04-23T19:00:00.000Z"],
    [
      'API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account\'s rate limit."}}',
      "rate-limit",
      undefined,
    ],
    ["API Error: 529 Overloaded. This is a server-side issue, usually temporary", "overloaded", undefined],
  ])("%s", (text, kind, resetAt) => {
    const limit = claudeLimit(text, NOW);
    expect(limit?.kind).toBe(kind);
    expect(limit?.resetAt?.toISOString()).toBe(resetAt);
  });

  it("the result's api_error_status, and no limit in an ordinary failure", () => {
    expect(claudeLimit("request failed", NOW, 429)?.kind).toBe("rate-limit");
    expect(claudeLimit("request failed", NOW, 529)?.kind).toBe("overloaded");
    expect(claudeLimit("Reached maximum number of turns (30)", NOW)).toBeUndefined();
  });

  it("a rejected rate_limit_event then a failed result: a usage limit until the event's resetsAt", () => {
    const parser = new ClaudeStreamParser({ now: () => NOW });
    expect(
      parser.parse(
        line({
          type: "rate_limit_event",
          rate_limit_info: { status: "allowed_warning", resetsAt: 1776880800, rateLimitType: "five_hour" },
        }),
      ),
    ).toEqual([]);
    expect(
      parser.parse(
        line({
          type: "rate_limit_event",
          rate_limit_info: { status: "rejected", resetsAt: 1776880800, rateLimitType: "five_hour" },
        }),
      ),
    ).toEqual([
      { type: "log", stream: "stdout", line: "rate limit five_hour rejected; resets at 2026-04-22T18:00:00.000Z" },
    ]);
    parser.parse(
      line({
        type: "assistant",
        error: "rate_limit",
        message: { content: [{ type: "text", text: "You've hit your limit · resets 6pm (UTC)" }] },
      }),
    );
    parser.parse(
      line({
        type: "result",
        subtype: "success",
        is_error: true,
        result: "You've hit your limit · resets 6pm (UTC)",
        usage: { input_tokens: 0, output_tokens: 0 },
      }),
    );
    expect(parser.outcome()).toMatchObject({
      isError: true,
      limit: { kind: "usage-limit", message: "You've hit your limit · resets 6pm (UTC)" },
    });
    expect(parser.outcome().limit?.resetAt?.toISOString()).toBe("2026-04-22T18:00:00.000Z");
  });

  it("a successful run is never a limit, whatever it says", () => {
    const parser = new ClaudeStreamParser({ now: () => NOW });
    parser.parse(
      line({ type: "result", subtype: "success", is_error: false, result: "usage limit reached|1753441200" }),
    );
    expect(parser.outcome().limit).toBeUndefined();
  });
});

describe("Codex's limits", () => {
  it("an error event and turn.failed with Codex's usage-limit message, reset at a local clock time", () => {
    const parser = new CodexJsonlParser({ now: () => NOW });
    const msg =
      "You've hit your usage limit. To get more access now, send a request to your admin or try again at Dec 5th, 2026 3:15 PM.";
    parser.parse(line({ type: "thread.started", thread_id: "t" }));
    parser.parse(line({ type: "error", message: msg }));
    parser.parse(line({ type: "turn.failed", error: { message: msg } }));
    const limit = parser.outcome().limit;
    expect(limit?.kind).toBe("usage-limit");
    // Codex prints the machine's local time; the replica reads it in its own zone.
    expect(limit?.resetAt?.getTime()).toBe(new Date(2026, 11, 5, 15, 15).getTime());
  });

  it.each([
    ["You've hit your usage limit. Try again later.", "usage-limit"],
    ["Quota exceeded. Check your plan and billing details.", "usage-limit"],
    ["exceeded retry limit, last status: 429 Too Many Requests, request id: r1", "rate-limit"],
    ["We're currently experiencing high demand, which may cause temporary errors.", "overloaded"],
  ])("%s", (text, kind) => {
    expect(codexLimit(text, NOW)?.kind).toBe(kind);
    expect(codexLimit(text, NOW)?.resetAt).toBeUndefined();
  });

  it("a completed turn is not a limit, even after a reconnect error mentioning 429", () => {
    const parser = new CodexJsonlParser({ now: () => NOW });
    parser.parse(line({ type: "error", message: "Reconnecting... 2/5 (exceeded retry limit, last status: 429)" }));
    parser.parse(line({ type: "turn.completed", usage: { input_tokens: 1, output_tokens: 1 } }));
    expect(parser.outcome().limit).toBeUndefined();
  });
});
