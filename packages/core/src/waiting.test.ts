import { describe, expect, it } from "vitest";
import { Loop } from "./loop.ts";
import { waitingDecision } from "./waiting.ts";

const T0 = "2025-01-01T00:00:00.000Z";

function loop(status: Partial<Loop["status"]>, waitingTimeoutMs = 60_000): Loop {
  return Loop.parse({
    schemaVersion: 1,
    id: "01jb8z6m3k9w4x7q2r5t8v1c0d",
    source: { type: "direct" },
    spec: { repo: { url: "file:///r" }, prd: { kind: "path" }, limits: { waitingTimeoutMs } },
    priority: 100,
    concurrencyKey: "r",
    status: {
      state: "waiting",
      reason: "needs-human",
      attempt: 1,
      iteration: 3,
      progress: { done: 1, total: 2 },
      createdAt: T0,
      updatedAt: T0,
      waitingSince: T0,
      ...status,
    },
    cost: { inputTokens: 0, outputTokens: 0, usd: 0 },
  });
}

const at = (ms: number) => new Date(Date.parse(T0) + ms);

describe("waitingDecision", () => {
  it.each([
    {
      name: "a person's loop before its timeout",
      status: {},
      now: 59_999,
      want: { action: "none", until: "2025-01-01T00:01:00.000Z" },
    },
    { name: "a person's loop at its timeout", status: {}, now: 60_000, want: { action: "abandon" } },
    {
      name: "a quota loop before its reset",
      status: { reason: "quota", resumeAt: "2025-01-01T00:05:00.000Z" },
      now: 120_000,
      want: { action: "none", until: "2025-01-01T00:05:00.000Z" },
    },
    // A reset time past the waiting timeout is still honoured: the loop waits for a clock, not a person.
    {
      name: "a quota loop at its reset",
      status: { reason: "quota", resumeAt: "2025-01-01T00:05:00.000Z" },
      now: 300_000,
      want: { action: "resume" },
    },
    // No reset time given: limits.quotaWaitMs (15 min by default) after it was parked, never abandoned.
    {
      name: "a quota loop without a reset time, past the waiting timeout",
      status: { reason: "quota" },
      now: 60_000,
      want: { action: "none", until: "2025-01-01T00:15:00.000Z" },
    },
    {
      name: "a quota loop without a reset time, after the default wait",
      status: { reason: "quota" },
      now: 900_000,
      want: { action: "resume" },
    },
    {
      name: "a loop that is not waiting",
      status: { state: "running", waitingSince: undefined },
      now: 10 ** 9,
      want: { action: "none" },
    },
  ] as const)("$name", ({ status, now, want }) => {
    expect(waitingDecision(loop(status), at(now))).toEqual(want);
  });
});
