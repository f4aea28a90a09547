import { describe, expect, it } from "vitest";
import {
  guardAfterIteration,
  guardBeforeIteration,
  loopTimedOut,
  NO_STREAKS,
  updateStreaks,
  type IterationStreaks,
} from "./guards.ts";
import { DEFAULT_LIMITS } from "./loop.ts";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");
const STARTED = new Date(T0).toISOString();
const limits = { ...DEFAULT_LIMITS, maxIterations: 5, timeoutMs: 60_000, maxCostUsd: 1 as number | undefined };

describe("loopTimedOut", () => {
  const cases: { name: string; startedAt?: string; now: number; expected: boolean }[] = [
    { name: "never claimed", now: T0 + 10 * 60_000, expected: false },
    { name: "within the timeout", startedAt: STARTED, now: T0 + 59_999, expected: false },
    { name: "exactly at the deadline", startedAt: STARTED, now: T0 + 60_000, expected: false },
    { name: "one millisecond past", startedAt: STARTED, now: T0 + 60_001, expected: true },
  ];
  for (const c of cases) {
    it(c.name, () => expect(loopTimedOut({ startedAt: c.startedAt }, limits, c.now)).toBe(c.expected));
  }
});

describe("guardBeforeIteration", () => {
  const ok = { iterationsUsed: 0, costUsd: 0, startedAt: STARTED, now: T0 + 1000 };
  const cases: { name: string; limits?: Partial<typeof limits>; state: Partial<typeof ok>; reason?: string }[] = [
    { name: "fresh loop goes on", state: {} },
    { name: "one iteration left goes on", state: { iterationsUsed: 4 } },
    { name: "iterations used up", state: { iterationsUsed: 5 }, reason: "max-iterations-reached" },
    { name: "under budget goes on", state: { costUsd: 0.99 } },
    { name: "budget reached", state: { costUsd: 1 }, reason: "budget-exceeded" },
    { name: "no budget: any cost goes on", limits: { maxCostUsd: undefined }, state: { costUsd: 1e6 } },
    { name: "past the wall clock", state: { now: T0 + 60_001 }, reason: "timed-out" },
    { name: "no start time: no wall clock", state: { startedAt: undefined, now: T0 + 1e9 } },
    {
      name: "several limits: iterations first",
      state: { iterationsUsed: 9, costUsd: 5, now: T0 + 1e9 },
      reason: "max-iterations-reached",
    },
    { name: "budget before wall clock", state: { costUsd: 5, now: T0 + 1e9 }, reason: "budget-exceeded" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const stop = guardBeforeIteration({ ...limits, ...c.limits }, { ...ok, ...c.state });
      expect(stop?.reason).toBe(c.reason);
      if (stop) expect(stop.message.length).toBeGreaterThan(0);
    });
  }
  it("says the budget and the cost in its message", () => {
    expect(guardBeforeIteration(limits, { ...ok, costUsd: 1.23456 })?.message).toBe(
      "cost $1.2346 reached the budget of $1",
    );
  });
});

describe("updateStreaks", () => {
  const cases: {
    name: string;
    before: IterationStreaks;
    outcome: { storyId: string; passed: boolean; changedFiles: number };
    after: IterationStreaks;
  }[] = [
    {
      name: "a failure counts for its story",
      before: NO_STREAKS,
      outcome: { storyId: "A", passed: false, changedFiles: 2 },
      after: { failures: { A: 1 }, noDiff: 0 },
    },
    {
      name: "a failure without a diff counts as no progress",
      before: { failures: { A: 1 }, noDiff: 1 },
      outcome: { storyId: "A", passed: false, changedFiles: 0 },
      after: { failures: { A: 2 }, noDiff: 2 },
    },
    {
      name: "a failure with a diff resets no progress",
      before: { failures: { A: 2 }, noDiff: 2 },
      outcome: { storyId: "A", passed: false, changedFiles: 1 },
      after: { failures: { A: 3 }, noDiff: 0 },
    },
    {
      name: "a pass clears its story and no progress, not other stories",
      before: { failures: { A: 2, B: 1 }, noDiff: 1 },
      outcome: { storyId: "A", passed: true, changedFiles: 0 },
      after: { failures: { B: 1 }, noDiff: 0 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(updateStreaks(c.before, c.outcome)).toEqual(c.after);
    });
  }
  it("does not change its input", () => {
    const before = { failures: { A: 1 }, noDiff: 0 };
    updateStreaks(before, { storyId: "A", passed: false, changedFiles: 0 });
    expect(before).toEqual({ failures: { A: 1 }, noDiff: 0 });
  });
});

describe("guardAfterIteration", () => {
  const l = { maxConsecutiveFailures: 3, noProgressIterations: 2 };
  const cases: {
    name: string;
    streaks: IterationStreaks;
    last: { storyId: string; passed: boolean; failure?: string };
    reason?: string;
    message?: string;
  }[] = [
    { name: "a pass goes on", streaks: NO_STREAKS, last: { storyId: "A", passed: true } },
    {
      name: "failures below the limit go on",
      streaks: { failures: { A: 2 }, noDiff: 0 },
      last: { storyId: "A", passed: false },
    },
    {
      name: "failures at the limit need a person, with the failure's first line",
      streaks: { failures: { A: 3 }, noDiff: 0 },
      last: { storyId: "A", passed: false, failure: "gate `npm test` failed\nstack..." },
      reason: "needs-human",
      message: "A failed 3 iterations in a row: gate `npm test` failed",
    },
    {
      name: "another story's failures do not count",
      streaks: { failures: { B: 5 }, noDiff: 0 },
      last: { storyId: "A", passed: false },
    },
    {
      name: "no diff at the limit is no progress",
      streaks: { failures: { A: 1 }, noDiff: 2 },
      last: { storyId: "A", passed: false },
      reason: "no-progress",
      message: "2 iterations in a row changed nothing",
    },
    {
      name: "consecutive failures win over no progress",
      streaks: { failures: { A: 3 }, noDiff: 3 },
      last: { storyId: "A", passed: false },
      reason: "needs-human",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const stop = guardAfterIteration(l, c.streaks, c.last);
      expect(stop?.reason).toBe(c.reason);
      if (c.message) expect(stop?.message).toBe(c.message);
    });
  }
});
