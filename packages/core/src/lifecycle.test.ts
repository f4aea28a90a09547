import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { FORCE_TABLE, LOOP_EVENT_TYPES, TRANSITIONS, transition } from "./lifecycle.ts";
import type { LoopEvent, LoopEventType, TransitionResult } from "./lifecycle.ts";
import { LIMITS } from "./limits.ts";
import { LOOP_STATES, Loop, REASON_CODES, isFinished, isTerminal } from "./loop.ts";
import type { LoopState, ReasonCode } from "./loop.ts";

const LOOP_ID = "01jb8z6m3k9w4x7q2r5t8v1c0d";
const T0 = "2025-01-01T00:00:00.000Z";
const AT = "2025-01-01T01:00:00.000Z";

type LoopInput = z.input<typeof Loop>;
type StatusOverrides = Partial<Loop["status"]>;

/** What each state looks like when a loop really is in it; parsed so fixtures stay valid. */
function statusFor(state: LoopState): Loop["status"] {
  const base = {
    attempt: 0,
    attemptBase: 0,
    iterationBase: 0,
    iteration: 0,
    progress: { done: 0, total: 4 },
    createdAt: T0,
    updatedAt: T0,
  };
  switch (state) {
    case "unresolved":
      return { ...base, state, reason: "queued", queueKey: `queue/100/${LOOP_ID}` };
    case "running":
      return {
        ...base,
        state,
        attempt: 1,
        iteration: 2,
        progress: { done: 1, total: 4 },
        claimedBy: "scheduler-a",
        executor: { kind: "local", id: "pid-41" },
        startedAt: T0,
        attemptStartedAt: T0,
      };
    case "waiting":
      // Parked for a quota whose reset time has passed: both ways out of waiting apply to it.
      return {
        ...base,
        state,
        reason: "quota",
        message: "usage limit reached",
        attempt: 1,
        iteration: 2,
        progress: { done: 1, total: 4 },
        startedAt: T0,
        waitingSince: T0,
        resumeAt: T0,
      };
    case "synced":
      return {
        ...base,
        state,
        reason: "all-stories-passed",
        attempt: 1,
        iteration: 5,
        progress: { done: 4, total: 4 },
        startedAt: T0,
        finishedAt: T0,
      };
    case "flatline":
      return {
        ...base,
        state,
        reason: "max-iterations-reached",
        attempt: 2,
        iteration: 50,
        progress: { done: 2, total: 4 },
        startedAt: T0,
        finishedAt: T0,
      };
    case "cancelled":
      return {
        ...base,
        state,
        reason: "operator-cancelled",
        message: "not needed",
        attempt: 1,
        iteration: 3,
        startedAt: T0,
        finishedAt: T0,
      };
  }
}

function makeLoop(state: LoopState, status: StatusOverrides = {}, limits: { maxAttempts?: number } = {}): Loop {
  const input: LoopInput = {
    schemaVersion: 1,
    id: LOOP_ID,
    source: { type: "direct" },
    spec: {
      repo: { url: "https://github.com/acme/app.git" },
      prd: { kind: "path" },
      limits,
    },
    priority: 100,
    concurrencyKey: "github.com_acme_app",
    status: { ...statusFor(state), ...status },
    cost: { inputTokens: 10, outputTokens: 20, usd: 0.5 },
  };
  return Loop.parse(input);
}

/** Freezes the whole object graph: a transition that writes to its input throws in strict mode. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** A well-formed event of `type` for `loop` (current attempt, next iteration, matching reason). */
function eventFor(type: LoopEventType, loop: Loop): LoopEvent {
  const attempt = loop.status.attempt;
  switch (type) {
    case "claimed":
      return { type, schedulerId: "scheduler-b", at: AT };
    case "replicaStarted":
      return { type, attempt, handle: { kind: "kubernetes", id: "smith-job-1" }, at: AT };
    case "iterationRecorded":
      return {
        type,
        attempt,
        iteration: loop.status.iteration + 1,
        progress: { done: 2, total: 4 },
        cost: { inputTokens: 1, outputTokens: 2, usd: 0.25 },
        at: AT,
      };
    case "finalized":
      return { type, attempt, outcome: "synced", reason: "all-stories-passed", message: "done", at: AT };
    case "replicaLost":
      return { type, attempt, backoffMs: 30_000, at: AT };
    case "timedOut":
      return { type, at: AT };
    case "answered":
      return { type, answer: "use the v2 endpoint", actor: "alice", id: "answer-1", at: AT };
    case "resumed":
      return { type, at: AT };
    case "cancelRequested":
      return { type, reason: "superseded by #13", at: AT };
    case "retryRequested":
      return { type, reason: "flaky CI fixed", at: AT };
    case "reviewRequested":
      return {
        type,
        source: "changes requested by @ana",
        feedback: "rename the flag",
        fingerprint: "fp-1",
        id: "review-1",
        actor: "github:ana",
        at: AT,
      };
    case "forceState":
      return { type, to: FORCE_TABLE[loop.status.state][0] ?? "cancelled", reason: "operator says so", at: AT };
  }
}

function expectOk(result: TransitionResult): Loop {
  if (!result.ok) throw new Error(`expected ok, got ${result.error.code}: ${result.error.message}`);
  expect(Loop.safeParse(result.loop).success).toBe(true);
  return result.loop;
}

function expectError(result: TransitionResult, code: string): void {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.error.code).toBe(code);
}

interface Expected {
  state: LoopState;
  reason: ReasonCode | undefined;
  /** Further status fields the next loop must have. */
  status?: StatusOverrides;
}

/**
 * The lifecycle written out pair by pair, independently of TRANSITIONS: every one of the
 * 6 x 12 (state, event) pairs is either listed here with its outcome or is invalid_transition.
 */
const ACCEPTED: Partial<Record<`${LoopState}:${LoopEventType}`, Expected>> = {
  "unresolved:claimed": {
    state: "running",
    reason: undefined,
    status: { attempt: 1, claimedBy: "scheduler-b", attemptStartedAt: AT, startedAt: AT },
  },
  "unresolved:timedOut": { state: "flatline", reason: "timed-out", status: { finishedAt: AT } },
  "unresolved:cancelRequested": {
    state: "cancelled",
    reason: "operator-cancelled",
    status: { message: "superseded by #13", finishedAt: AT },
  },
  "unresolved:forceState": {
    state: "flatline",
    reason: "operator-override",
    status: { message: "operator says so", finishedAt: AT },
  },
  "running:replicaStarted": {
    state: "running",
    reason: undefined,
    status: { executor: { kind: "kubernetes", id: "smith-job-1" } },
  },
  "running:iterationRecorded": {
    state: "running",
    reason: undefined,
    status: { iteration: 3, progress: { done: 2, total: 4 } },
  },
  "running:finalized": { state: "synced", reason: "all-stories-passed", status: { message: "done", finishedAt: AT } },
  "running:replicaLost": {
    state: "unresolved",
    reason: "retry-scheduled",
    status: { notBefore: "2025-01-01T01:00:30.000Z", executor: undefined, claimedBy: undefined },
  },
  "running:timedOut": { state: "flatline", reason: "timed-out", status: { finishedAt: AT } },
  "running:cancelRequested": { state: "cancelled", reason: "operator-cancelled", status: { finishedAt: AT } },
  "running:forceState": {
    state: "unresolved",
    reason: "operator-override",
    status: { attemptBase: 1, iterationBase: 2, executor: undefined, claimedBy: undefined },
  },
  "waiting:timedOut": {
    state: "flatline",
    reason: "abandoned",
    status: { finishedAt: AT, waitingSince: undefined, resumeAt: undefined },
  },
  "waiting:answered": {
    state: "unresolved",
    reason: "answered",
    status: { attemptBase: 1, iterationBase: 0, startedAt: undefined, waitingSince: undefined, resumeAt: undefined },
  },
  "waiting:resumed": {
    state: "unresolved",
    reason: "quota-reset",
    status: { attemptBase: 1, startedAt: undefined, waitingSince: undefined, resumeAt: undefined },
  },
  "waiting:cancelRequested": {
    state: "cancelled",
    reason: "operator-cancelled",
    status: { finishedAt: AT, waitingSince: undefined },
  },
  "waiting:forceState": {
    state: "unresolved",
    reason: "operator-override",
    status: { attemptBase: 1, iterationBase: 2, waitingSince: undefined, resumeAt: undefined },
  },
  "flatline:cancelRequested": { state: "cancelled", reason: "operator-cancelled", status: { finishedAt: AT } },
  "flatline:retryRequested": {
    state: "unresolved",
    reason: "operator-retry",
    status: { attemptBase: 2, iterationBase: 50, finishedAt: undefined },
  },
  "flatline:forceState": {
    state: "unresolved",
    reason: "operator-override",
    status: { attemptBase: 2, iterationBase: 50, finishedAt: undefined },
  },
  "synced:reviewRequested": {
    state: "unresolved",
    reason: "review-feedback",
    status: { reviewRound: 1, reviewPending: true, reviewFingerprint: "fp-1", finishedAt: undefined },
  },
};

const PAIRS = LOOP_STATES.flatMap((state) => LOOP_EVENT_TYPES.map((event) => ({ state, event })));

describe("transition: every (state, event) pair", () => {
  it("covers 6 states x 12 event types", () => {
    expect(LOOP_STATES).toHaveLength(6);
    expect(LOOP_EVENT_TYPES).toHaveLength(12);
    expect(PAIRS).toHaveLength(72);
  });

  it("TRANSITIONS accepts exactly the pairs the lifecycle diagram describes", () => {
    for (const { state, event } of PAIRS) {
      expect(TRANSITIONS[state].includes(event), `${state} + ${event}`).toBe(
        ACCEPTED[`${state}:${event}`] !== undefined,
      );
    }
  });

  it.each(PAIRS)("$state + $event", ({ state, event }) => {
    const loop = deepFreeze(makeLoop(state));
    const before = structuredClone(loop);
    const result = transition(loop, eventFor(event, loop));
    expect(loop).toEqual(before);

    const expected = ACCEPTED[`${state}:${event}`];
    if (!expected) {
      expect(result).toEqual({
        ok: false,
        error: { code: "invalid_transition", message: expect.any(String), from: state, event },
      });
      return;
    }
    const next = expectOk(result);
    expect(result.ok && result.changed).toBe(true);
    expect(next.status.state).toBe(expected.state);
    expect(next.status.reason).toBe(expected.reason);
    for (const [key, value] of Object.entries(expected.status ?? {})) {
      expect(next.status[key as keyof Loop["status"]], key).toEqual(value);
    }
    expect(next.status.updatedAt).toBe(AT);
    expect(next.status.createdAt).toBe(T0);
    // A transition never touches what the loop is, only where it is.
    expect(next.spec).toEqual(loop.spec);
    expect(next.id).toBe(loop.id);
  });
});

describe("claimed", () => {
  it("starts attempt n+1 and clears the queue position, backoff and old executor", () => {
    const loop = makeLoop("unresolved", {
      attempt: 1,
      reason: "retry-scheduled",
      message: "replica lost on attempt 1; retrying",
      notBefore: "2025-01-01T00:30:00.000Z",
      executor: { kind: "local", id: "pid-1" },
      startedAt: T0,
      attemptStartedAt: T0,
    });
    const next = expectOk(transition(loop, { type: "claimed", schedulerId: "scheduler-b", at: AT }));
    expect(next.status).toMatchObject({ state: "running", attempt: 2, claimedBy: "scheduler-b", attemptStartedAt: AT });
    expect(next.status.queueKey).toBeUndefined();
    expect(next.status.notBefore).toBeUndefined();
    expect(next.status.executor).toBeUndefined();
    expect(next.status.reason).toBeUndefined();
    expect(next.status.message).toBeUndefined();
  });

  it("sets startedAt on the first claim and keeps it on later claims", () => {
    const first = expectOk(transition(makeLoop("unresolved"), { type: "claimed", schedulerId: "s", at: AT }));
    expect(first.status.startedAt).toBe(AT);

    const lost = expectOk(transition(first, { type: "replicaLost", attempt: 1, at: "2025-01-01T02:00:00.000Z" }));
    const second = expectOk(transition(lost, { type: "claimed", schedulerId: "s", at: "2025-01-01T03:00:00.000Z" }));
    expect(second.status.attempt).toBe(2);
    expect(second.status.startedAt).toBe(AT);
    expect(second.status.attemptStartedAt).toBe("2025-01-01T03:00:00.000Z");
  });
});

describe("stale attempts", () => {
  const running = makeLoop("running", { attempt: 3 });
  const staleEvents: LoopEvent[] = [
    { type: "replicaStarted", attempt: 2, handle: { kind: "local", id: "pid-2" }, at: AT },
    { type: "iterationRecorded", attempt: 2, iteration: 9, at: AT },
    { type: "finalized", attempt: 2, outcome: "synced", reason: "all-stories-passed", at: AT },
    { type: "replicaLost", attempt: 2, at: AT },
    // A replica from the future is just as wrong as one from the past.
    { type: "replicaLost", attempt: 4, at: AT },
  ];

  it.each(
    staleEvents.map((event) => ({
      name: `${event.type} (attempt ${"attempt" in event ? event.attempt : "-"})`,
      event,
    })),
  )("$name is stale_attempt on attempt 3", ({ event }) => {
    const result = transition(deepFreeze(structuredClone(running)), event);
    expectError(result, "stale_attempt");
  });

  it("an event for a state that does not accept it is invalid_transition, not stale_attempt", () => {
    expectError(transition(makeLoop("flatline"), { type: "replicaLost", attempt: 0, at: AT }), "invalid_transition");
  });
});

describe("iterationRecorded", () => {
  const running = makeLoop("running", {}, {});

  it("adds the iteration's usage to the loop's cost", () => {
    const next = expectOk(
      transition(running, {
        type: "iterationRecorded",
        attempt: 1,
        iteration: 3,
        cost: { inputTokens: 100, outputTokens: 7, usd: 0.25 },
        at: AT,
      }),
    );
    expect(next.cost).toEqual({ inputTokens: 110, outputTokens: 27, usd: 0.75 });
  });

  it("keeps usd to micro-dollars so float noise does not accumulate (0.1 + 0.2 is 0.3)", () => {
    const zero = { ...running, cost: { inputTokens: 0, outputTokens: 0, usd: 0.1 } };
    const next = expectOk(
      transition(zero, {
        type: "iterationRecorded",
        attempt: 1,
        iteration: 3,
        cost: { inputTokens: 0, outputTokens: 0, usd: 0.2 },
        at: AT,
      }),
    );
    expect(next.cost.usd).toBe(0.3);

    let loop = { ...running, cost: { inputTokens: 0, outputTokens: 0, usd: 0 } };
    for (let i = 3; i < 1003; i++) {
      loop = expectOk(
        transition(loop, {
          type: "iterationRecorded",
          attempt: 1,
          iteration: i,
          cost: { inputTokens: 0, outputTokens: 0, usd: 0.1 },
          at: AT,
        }),
      );
    }
    expect(loop.cost.usd).toBe(100);
  });

  it("updates progress, and keeps the old progress when the event has none", () => {
    const next = expectOk(
      transition(running, {
        type: "iterationRecorded",
        attempt: 1,
        iteration: 3,
        progress: { done: 3, total: 5 },
        at: AT,
      }),
    );
    expect(next.status.progress).toEqual({ done: 3, total: 5 });
    expect(next.status.iteration).toBe(3);

    const without = expectOk(transition(next, { type: "iterationRecorded", attempt: 1, iteration: 4, at: AT }));
    expect(without.status.progress).toEqual({ done: 3, total: 5 });
    expect(without.cost).toEqual(next.cost);
  });

  it.each([2, 1])("iteration %i when 2 is already recorded is a no-op with changed: false", (iteration) => {
    const loop = deepFreeze(structuredClone(running));
    const result = transition(loop, {
      type: "iterationRecorded",
      attempt: 1,
      iteration,
      progress: { done: 4, total: 4 },
      cost: { inputTokens: 1000, outputTokens: 1000, usd: 9 },
      at: AT,
    });
    expect(result).toEqual({ ok: true, changed: false, loop });
    if (result.ok) expect(result.loop).toBe(loop);
  });

  it("rejects progress.done > progress.total as invalid_argument", () => {
    expectError(
      transition(running, {
        type: "iterationRecorded",
        attempt: 1,
        iteration: 3,
        progress: { done: 5, total: 4 },
        at: AT,
      }),
      "invalid_argument",
    );
  });

  it.each([0, -1, 2.5, Number.NaN])("rejects iteration %s as invalid_argument", (iteration) => {
    expectError(transition(running, { type: "iterationRecorded", attempt: 1, iteration, at: AT }), "invalid_argument");
  });

  // Regression: these were summed into the stored loop, which then failed Loop.parse on every read.
  it.each([
    { name: "negative usd", cost: { inputTokens: 0, outputTokens: 0, usd: -1 } },
    { name: "infinite usd", cost: { inputTokens: 0, outputTokens: 0, usd: Number.POSITIVE_INFINITY } },
    { name: "negative tokens", cost: { inputTokens: -5, outputTokens: 0, usd: 0 } },
    { name: "fractional tokens", cost: { inputTokens: 0, outputTokens: 1.5, usd: 0 } },
  ])("rejects a cost with $name as invalid_argument", ({ cost }) => {
    expectError(
      transition(running, { type: "iterationRecorded", attempt: 1, iteration: 3, cost, at: AT }),
      "invalid_argument",
    );
  });

  it.each([
    { name: "negative", progress: { done: -1, total: 4 } },
    { name: "fractional", progress: { done: 1, total: 4.5 } },
  ])("rejects $name progress as invalid_argument", ({ progress }) => {
    expectError(
      transition(running, { type: "iterationRecorded", attempt: 1, iteration: 3, progress, at: AT }),
      "invalid_argument",
    );
  });
});

describe("finalized", () => {
  const running = makeLoop("running");
  // Written out here on purpose (not imported): the test pins the vocabulary.
  const flatlineReasons: ReasonCode[] = [
    "max-iterations-reached",
    "no-progress",
    "replica-lost",
    "budget-exceeded",
    "timed-out",
    "clone-failed",
    "abandoned",
  ];
  const waitingReasons: ReasonCode[] = [
    "needs-human",
    "prd-invalid",
    "no-gates",
    "baseline-failing",
    "question",
    "review-repeating",
    "review-rounds-exhausted",
    "quota",
  ];

  it.each(REASON_CODES.map((reason) => ({ reason })))("synced with $reason", ({ reason }) => {
    const result = transition(running, { type: "finalized", attempt: 1, outcome: "synced", reason, at: AT });
    if (reason === "all-stories-passed") {
      expect(expectOk(result).status).toMatchObject({ state: "synced", reason, finishedAt: AT });
    } else {
      expectError(result, "invalid_argument");
    }
  });

  it.each(REASON_CODES.map((reason) => ({ reason })))("flatline with $reason", ({ reason }) => {
    const result = transition(running, {
      type: "finalized",
      attempt: 1,
      outcome: "flatline",
      reason,
      message: "why",
      at: AT,
    });
    if (flatlineReasons.includes(reason)) {
      expect(expectOk(result).status).toMatchObject({ state: "flatline", reason, message: "why", finishedAt: AT });
    } else {
      expectError(result, "invalid_argument");
    }
  });

  it.each(REASON_CODES.map((reason) => ({ reason })))("waiting with $reason", ({ reason }) => {
    const result = transition(running, {
      type: "finalized",
      attempt: 1,
      outcome: "waiting",
      reason,
      message: "why",
      question: "which endpoint?",
      at: AT,
    });
    if (waitingReasons.includes(reason)) {
      const next = expectOk(result).status;
      expect(next).toMatchObject({ state: "waiting", reason, message: "why", question: "which endpoint?" });
      expect(next).toMatchObject({ waitingSince: AT, attempt: 1, progress: { done: 1, total: 4 } });
      // Waiting is not finished, and nothing runs for it: no finishedAt, no scheduler, no executor.
      expect(next.finishedAt).toBeUndefined();
      expect(next.claimedBy).toBeUndefined();
      expect(next.executor).toBeUndefined();
    } else {
      expectError(result, "invalid_argument");
    }
  });

  it("parks a quota loop until its reset time, normalised to UTC", () => {
    const next = expectOk(
      transition(running, {
        type: "finalized",
        attempt: 1,
        outcome: "waiting",
        reason: "quota",
        resumeAt: "2025-01-01T03:00:00+02:00",
        at: AT,
      }),
    );
    expect(next.status).toMatchObject({ state: "waiting", reason: "quota", resumeAt: "2025-01-01T01:00:00.000Z" });
  });

  it.each([
    { name: "a resumeAt on a reason other than quota", reason: "needs-human", resumeAt: AT },
    { name: "a resumeAt that is not a date", reason: "quota", resumeAt: "tomorrow" },
  ] as const)("refuses $name as invalid_argument", ({ reason, resumeAt }) => {
    expectError(
      transition(running, { type: "finalized", attempt: 1, outcome: "waiting", reason, resumeAt, at: AT }),
      "invalid_argument",
    );
  });

  it.each(["synced", "flatline"] as const)("refuses a question on %s", (outcome) => {
    const reason = outcome === "synced" ? "all-stories-passed" : "no-progress";
    expectError(
      transition(running, { type: "finalized", attempt: 1, outcome, reason, question: "?", at: AT }),
      "invalid_argument",
    );
  });

  it("refuses a question longer than the status limit", () => {
    expectError(
      transition(running, {
        type: "finalized",
        attempt: 1,
        outcome: "waiting",
        reason: "question",
        question: "x".repeat(4097),
        at: AT,
      }),
      "invalid_argument",
    );
  });
});

describe("waiting", () => {
  const asking = makeLoop("waiting", {
    reason: "question",
    question: "which endpoint?",
    resumeAt: undefined,
    attempt: 3,
    attemptBase: 1,
    iteration: 9,
    iterationBase: 2,
  });

  it("an answer puts the loop back in the queue with the answer and its question as a steering message", () => {
    const next = expectOk(
      transition(asking, { type: "answered", answer: "  the v2 one \n", actor: "alice", id: "a1", at: AT }),
    );
    expect(next.status).toMatchObject({ state: "unresolved", reason: "answered", message: "answered by alice" });
    expect(next.steering).toEqual([
      { id: "a1", message: "the v2 one", at: AT, actor: "alice", question: "which endpoint?" },
    ]);
    // Attempts start afresh, the iteration budget does not.
    expect(next.status).toMatchObject({ attempt: 3, attemptBase: 3, iteration: 9, iterationBase: 2 });
    expect(next.status.question).toBeUndefined();
    expect(next.status.waitingSince).toBeUndefined();
  });

  it.each(["", "  \n"])("refuses a blank answer (%j)", (answer) => {
    expectError(transition(asking, { type: "answered", answer, actor: "a", id: "a1", at: AT }), "invalid_argument");
  });

  it("refuses an answer larger than a steering message", () => {
    expectError(
      transition(asking, { type: "answered", answer: "é".repeat(4097), actor: "a", id: "a1", at: AT }),
      "invalid_argument",
    );
  });

  it("only a quota loop resumes by itself, and not before its reset time", () => {
    expectError(transition(asking, { type: "resumed", at: AT }), "invalid_transition");
    const parked = makeLoop("waiting", { resumeAt: "2025-01-01T02:00:00.000Z" });
    expectError(transition(parked, { type: "resumed", at: AT }), "invalid_argument");
    const next = expectOk(transition(parked, { type: "resumed", at: "2025-01-01T02:00:00.000Z" }));
    expect(next.status).toMatchObject({ state: "unresolved", reason: "quota-reset" });
    expect(next.status.resumeAt).toBeUndefined();
    expect(next.steering).toEqual([]);
  });

  it("times out to flatline abandoned", () => {
    const next = expectOk(transition(asking, { type: "timedOut", at: AT }));
    expect(next.status).toMatchObject({ state: "flatline", reason: "abandoned", finishedAt: AT });
    expect(next.status.question).toBeUndefined();
  });

  it("a replica event for a waiting loop is invalid_transition: its attempt is over", () => {
    for (const event of [
      { type: "iterationRecorded", attempt: 3, iteration: 10, at: AT },
      { type: "finalized", attempt: 3, outcome: "synced", reason: "all-stories-passed", at: AT },
      { type: "replicaLost", attempt: 3, at: AT },
    ] as const) {
      expectError(transition(asking, event), "invalid_transition");
    }
  });
});

describe("replicaLost", () => {
  it("retries to unresolved with notBefore = at + backoff while attempts remain", () => {
    const loop = makeLoop("running", { attempt: 2 }, { maxAttempts: 3 });
    const next = expectOk(
      transition(loop, { type: "replicaLost", attempt: 2, backoffMs: 90_000, message: "node drained", at: AT }),
    );
    expect(next.status).toMatchObject({
      state: "unresolved",
      reason: "retry-scheduled",
      message: "node drained",
      attempt: 2,
      notBefore: "2025-01-01T01:01:30.000Z",
    });
    expect(next.status.claimedBy).toBeUndefined();
    expect(next.status.executor).toBeUndefined();
    expect(next.status.finishedAt).toBeUndefined();
  });

  it("without a backoff the retry may be claimed at once", () => {
    const next = expectOk(transition(makeLoop("running"), { type: "replicaLost", attempt: 1, at: AT }));
    expect(next.status.state).toBe("unresolved");
    expect(next.status.notBefore).toBeUndefined();
  });

  it("flatlines with replica-lost when the attempts are used up", () => {
    const loop = makeLoop("running", { attempt: 3 }, { maxAttempts: 3 });
    const next = expectOk(transition(loop, { type: "replicaLost", attempt: 3, backoffMs: 1000, at: AT }));
    expect(next.status).toMatchObject({ state: "flatline", reason: "replica-lost", finishedAt: AT });
    expect(next.status.notBefore).toBeUndefined();
  });

  it("an attempt that never started costs nothing: queued at once, even on the last attempt", () => {
    const last = makeLoop("running", { attempt: 3 }, { maxAttempts: 3 });
    const next = expectOk(
      transition(last, { type: "replicaLost", attempt: 3, unstarted: true, backoffMs: 5000, at: AT }),
    );
    expect(next.status).toMatchObject({ state: "unresolved", reason: "retry-scheduled", attempt: 3, attemptBase: 1 });
    expect(next.status.notBefore).toBeUndefined();
    expect(next.status.claimedBy).toBeUndefined();
    // The next claim is attempt 4, and it is still the third counted attempt: a real loss then flatlines.
    const reclaimed = expectOk(transition(next, { type: "claimed", schedulerId: "s2", at: AT }));
    expect(reclaimed.status).toMatchObject({ attempt: 4, attemptBase: 1 });
    expect(expectOk(transition(reclaimed, { type: "replicaLost", attempt: 4, at: AT })).status.state).toBe("flatline");
  });

  it("attempts that never started stop being free past maxAttempts of them: a loop that keeps killing its scheduler ends", () => {
    let loop = makeLoop("running", { attempt: 1 }, { maxAttempts: 2 });
    for (let i = 0; i < 2; i++) {
      loop = expectOk(transition(loop, { type: "replicaLost", attempt: loop.status.attempt, unstarted: true, at: AT }));
      expect(loop.status).toMatchObject({ state: "unresolved", unstartedAttempts: i + 1 });
      loop = expectOk(transition(loop, { type: "claimed", schedulerId: "s", at: AT }));
    }
    // The third never-started attempt counts like any lost one: with 1 of 2 used it is retried...
    loop = expectOk(transition(loop, { type: "replicaLost", attempt: loop.status.attempt, unstarted: true, at: AT }));
    expect(loop.status).toMatchObject({ state: "unresolved", unstartedAttempts: 2 });
    loop = expectOk(transition(loop, { type: "claimed", schedulerId: "s", at: AT }));
    // ...and the next one ends it.
    const last = expectOk(
      transition(loop, { type: "replicaLost", attempt: loop.status.attempt, unstarted: true, at: AT }),
    );
    expect(last.status).toMatchObject({ state: "flatline", reason: "replica-lost" });
  });

  it("counts attempts from attemptBase", () => {
    const loop = makeLoop("running", { attempt: 5, attemptBase: 3 }, { maxAttempts: 3 });
    expect(expectOk(transition(loop, { type: "replicaLost", attempt: 5, at: AT })).status.state).toBe("unresolved");
    const last = makeLoop("running", { attempt: 6, attemptBase: 3 }, { maxAttempts: 3 });
    expect(expectOk(transition(last, { type: "replicaLost", attempt: 6, at: AT })).status.state).toBe("flatline");
  });

  it.each([1, 2, 5])("with maxAttempts %i a loop gets exactly that many attempts", (maxAttempts) => {
    let loop = makeLoop("unresolved", {}, { maxAttempts });
    let claims = 0;
    while (loop.status.state === "unresolved") {
      loop = expectOk(transition(loop, { type: "claimed", schedulerId: "s", at: AT }));
      claims++;
      loop = expectOk(transition(loop, { type: "replicaLost", attempt: loop.status.attempt, at: AT }));
    }
    expect(claims).toBe(maxAttempts);
    expect(loop.status).toMatchObject({ state: "flatline", reason: "replica-lost", attempt: maxAttempts });
  });
});

describe("timedOut", () => {
  it.each(["unresolved", "running"] as const)("flatlines a %s loop with timed-out", (state) => {
    const next = expectOk(transition(makeLoop(state), { type: "timedOut", at: AT }));
    expect(next.status).toMatchObject({ state: "flatline", reason: "timed-out", finishedAt: AT });
  });

  it.each(["synced", "flatline", "cancelled"] as const)("is invalid_transition from %s", (state) => {
    expectError(transition(makeLoop(state), { type: "timedOut", at: AT }), "invalid_transition");
  });
});

describe("cancelRequested", () => {
  it.each(["unresolved", "running", "waiting", "flatline"] as const)(
    "cancels a %s loop and keeps the reason as its message",
    (state) => {
      const next = expectOk(transition(makeLoop(state), { type: "cancelRequested", reason: "wrong repo", at: AT }));
      expect(next.status).toMatchObject({
        state: "cancelled",
        reason: "operator-cancelled",
        message: "wrong repo",
        finishedAt: AT,
      });
    },
  );

  it.each(["", "   ", "\n\t"])("requires a non-blank reason (%j)", (reason) => {
    expectError(transition(makeLoop("running"), { type: "cancelRequested", reason, at: AT }), "invalid_argument");
  });
});

describe("retryRequested", () => {
  it("requires a non-blank reason", () => {
    expectError(transition(makeLoop("flatline"), { type: "retryRequested", reason: " ", at: AT }), "invalid_argument");
  });

  it("moves attemptBase and iterationBase to the current attempt and iteration", () => {
    const loop = makeLoop("flatline", { attempt: 4, iteration: 17, notBefore: AT });
    const next = expectOk(transition(loop, { type: "retryRequested", reason: "fixed the flaky gate", at: AT }));
    expect(next.status).toMatchObject({
      state: "unresolved",
      reason: "operator-retry",
      message: "fixed the flaky gate",
      attempt: 4,
      attemptBase: 4,
      iteration: 17,
      iterationBase: 17,
    });
    expect(next.status.finishedAt).toBeUndefined();
    expect(next.status.notBefore).toBeUndefined();
  });

  it("gives the loop maxAttempts fresh attempts: after a retry, a lost replica retries instead of flatlining", () => {
    let loop = makeLoop("unresolved", {}, { maxAttempts: 2 });
    for (let i = 0; i < 2; i++) {
      loop = expectOk(transition(loop, { type: "claimed", schedulerId: "s", at: AT }));
      loop = expectOk(transition(loop, { type: "replicaLost", attempt: loop.status.attempt, at: AT }));
    }
    expect(loop.status).toMatchObject({ state: "flatline", reason: "replica-lost", attempt: 2 });

    loop = expectOk(transition(loop, { type: "retryRequested", reason: "cluster is healthy again", at: AT }));
    loop = expectOk(transition(loop, { type: "claimed", schedulerId: "s", at: AT }));
    expect(loop.status.attempt).toBe(3);
    loop = expectOk(transition(loop, { type: "replicaLost", attempt: 3, at: AT }));
    expect(loop.status).toMatchObject({ state: "unresolved", reason: "retry-scheduled" });

    // ... and the second fresh attempt is the last one.
    loop = expectOk(transition(loop, { type: "claimed", schedulerId: "s", at: AT }));
    loop = expectOk(transition(loop, { type: "replicaLost", attempt: 4, at: AT }));
    expect(loop.status).toMatchObject({ state: "flatline", reason: "replica-lost" });
  });
});

describe("forceState", () => {
  const forcePairs = LOOP_STATES.flatMap((from) => LOOP_STATES.map((to) => ({ from, to })));

  it.each(forcePairs)("$from → $to follows FORCE_TABLE", ({ from, to }) => {
    const loop = deepFreeze(makeLoop(from));
    const result = transition(loop, { type: "forceState", to, reason: "operator override", at: AT });
    if (!TRANSITIONS[from].includes("forceState") || !FORCE_TABLE[from].includes(to)) {
      expectError(result, "invalid_transition");
      return;
    }
    const next = expectOk(result);
    expect(next.status).toMatchObject({ state: to, reason: "operator-override", message: "operator override" });
    if (to === "unresolved") {
      expect(next.status).toMatchObject({ attemptBase: loop.status.attempt, iterationBase: loop.status.iteration });
      expect(next.status.finishedAt).toBeUndefined();
      expect(next.status.claimedBy).toBeUndefined();
      expect(next.status.executor).toBeUndefined();
    } else {
      expect(next.status.finishedAt).toBe(AT);
    }
  });

  it("never allows forcing a loop into the state it is in, or out of a terminal state", () => {
    for (const state of LOOP_STATES) {
      expect(FORCE_TABLE[state]).not.toContain(state);
      if (isTerminal(state)) expect(FORCE_TABLE[state]).toEqual([]);
    }
  });

  it.each(["", "  "])("requires a non-blank reason (%j)", (reason) => {
    expectError(
      transition(makeLoop("running"), { type: "forceState", to: "flatline", reason, at: AT }),
      "invalid_argument",
    );
  });
});

/** mulberry32: a small seeded PRNG, so that a failing walk can be replayed exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random events, mostly well-formed for the loop's current state but often not: stale attempts,
 * repeated iterations, done > total, negative counts, blank reasons, reasons that do not go with
 * the outcome.
 * Events that end a loop for good are rare so that a walk lives long enough to go round.
 */
function randomEvent(rand: () => number, loop: Loop, at: string): LoopEvent {
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(items: readonly T[]): T => {
    const item = items[int(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  };
  const attempt = rand() < 0.85 ? loop.status.attempt : loop.status.attempt + pick([-1, 1, 2]);
  const reason = rand() < 0.9 ? "operator action" : pick(["", "  "]);
  const weights: Record<LoopEventType, number> = {
    claimed: 100,
    replicaStarted: 80,
    iterationRecorded: 300,
    finalized: 60,
    replicaLost: 120,
    timedOut: 30,
    answered: 40,
    resumed: 40,
    cancelRequested: 1,
    retryRequested: 100,
    reviewRequested: 8,
    forceState: 60,
  };
  const weighted = LOOP_EVENT_TYPES.flatMap((type) => Array<LoopEventType>(weights[type]).fill(type));
  // Waiting is a short stay in a walk (most events take the loop out of it): cancel it more often
  // there, or the walks would rarely see a waiting loop cancelled.
  // Likewise a synced loop gets review feedback now and then, or the walks would rarely reopen one.
  const type =
    loop.status.state === "waiting" && rand() < 0.05
      ? "cancelRequested"
      : loop.status.state === "synced" && rand() < 0.05
        ? "reviewRequested"
        : pick(weighted);
  switch (type) {
    case "claimed":
      return { type, schedulerId: pick(["scheduler-a", "scheduler-b"]), at };
    case "replicaStarted":
      return { type, attempt, handle: { kind: pick(["local", "kubernetes"]), id: `h-${int(1000)}` }, at };
    case "iterationRecorded": {
      const total = int(10);
      return {
        type,
        attempt,
        iteration: loop.status.iteration + pick([-1, 0, 1, 1, 1, 2]),
        ...(rand() < 0.8 ? { progress: { done: rand() < 0.03 ? -1 : int(total + 2), total } } : {}),
        ...(rand() < 0.8
          ? {
              cost: {
                inputTokens: int(5000),
                outputTokens: int(5000),
                usd: rand() < 0.03 ? -0.5 : int(1_000_000) / 1e7,
              },
            }
          : {}),
        at,
      };
    }
    case "finalized": {
      // Synced is rarer than flatline: it ends the walk.
      const outcome = rand() < 0.2 ? "synced" : rand() < 0.5 ? "waiting" : "flatline";
      const reason =
        outcome === "waiting" && rand() < 0.5
          ? "quota"
          : outcome === "synced" && rand() < 0.3
            ? "all-stories-passed"
            : pick(REASON_CODES);
      const resumeAt =
        reason === "quota" && rand() < 0.7 ? new Date(Date.parse(at) + int(120_000)).toISOString() : undefined;
      return { type, attempt, outcome, reason, message: "finished", ...(resumeAt ? { resumeAt } : {}), at };
    }
    case "replicaLost":
      return { type, attempt, ...(rand() < 0.7 ? { backoffMs: int(120_000) } : {}), at };
    case "timedOut":
    case "resumed":
      return { type, at };
    case "answered":
      return { type, answer: rand() < 0.9 ? "an answer" : " ", actor: "alice", id: `a${int(1000)}`, at };
    case "cancelRequested":
    case "retryRequested":
      return { type, reason, at };
    case "reviewRequested":
      return {
        type,
        source: pick(["changes requested by @ana", "check run ci failed"]),
        feedback: rand() < 0.9 ? "address this" : " ",
        fingerprint: pick(["fp-a", "fp-b", "fp-c"]),
        id: `r${int(1000)}`,
        actor: "github:ana",
        at,
      };
    case "forceState":
      return {
        type,
        to: rand() < 0.02 ? pick(LOOP_STATES) : pick(["unresolved", "running", "flatline", "waiting"] as const),
        reason,
        at,
      };
  }
}

interface WalkStats {
  accepted: Set<string>;
  errors: Set<string>;
  steps: number;
  /** Walks that entered a terminal state (and then had to stay there). */
  terminal: number;
}

function newStats(): WalkStats {
  return { accepted: new Set(), errors: new Set(), steps: 0, terminal: 0 };
}

function walk(seed: number, steps: number, stats: WalkStats): void {
  const rand = prng(seed);
  let loop = deepFreeze(makeLoop("unresolved", {}, { maxAttempts: 3 }));
  let clock = Date.parse(T0);
  let terminalSince: LoopState | undefined;
  for (let step = 0; step < steps; step++) {
    clock += 1000 + Math.floor(rand() * 60_000);
    const event = randomEvent(rand, loop, new Date(clock).toISOString());
    const before = loop;
    // `before` is deep-frozen, so a transition that wrote to its input would throw here.
    const result = transition(before, event);
    stats.steps++;
    if (!result.ok) {
      stats.errors.add(result.error.code);
      continue;
    }
    const next = result.loop;
    const fail = (what: string): never => {
      throw new Error(
        `seed ${seed}, step ${step}: ${what}\n  before: ${JSON.stringify(before.status)}\n  event: ${JSON.stringify(event)}\n  after: ${JSON.stringify(next.status)}`,
      );
    };
    const parsed = Loop.safeParse(next);
    if (!parsed.success) fail(`the next loop fails Loop.safeParse: ${parsed.error.message}`);
    // Terminal states are absorbing, except that a synced loop's pull request can get review feedback.
    if (terminalSince && !(terminalSince === "synced" && event.type === "reviewRequested"))
      fail(`left terminal state ${terminalSince}`);
    terminalSince = undefined;
    if (next.status.attempt < before.status.attempt) fail("attempt decreased");
    if (next.status.iteration < before.status.iteration) fail("iteration decreased");
    if (next.cost.usd < before.cost.usd) fail("cost decreased");
    if (next.status.attempt - next.status.attemptBase > next.spec.limits.maxAttempts)
      fail("more attempts than maxAttempts");
    if ((next.status.finishedAt !== undefined) !== isFinished(next.status.state))
      fail("finishedAt does not match the state");
    if (
      next.status.state === "unresolved" &&
      (next.status.claimedBy !== undefined || next.status.executor !== undefined)
    ) {
      fail("an unresolved loop still names a scheduler or executor");
    }
    if ((next.status.waitingSince !== undefined) !== (next.status.state === "waiting"))
      fail("waitingSince does not match the state");
    if (next.status.state === "waiting" && (next.status.claimedBy !== undefined || next.status.executor !== undefined))
      fail("a waiting loop still names a scheduler or executor");
    if (result.changed) stats.accepted.add(`${before.status.state}:${event.type}`);
    if (isTerminal(next.status.state)) {
      terminalSince = next.status.state;
      stats.terminal++;
    }
    loop = deepFreeze(next);
  }
}

describe("random walk (seeded)", () => {
  it("2,000 random events from a fresh unresolved loop keep it valid, terminal states absorbing, attempt monotonic", () => {
    const stats = newStats();
    // Seed 13 makes a long walk: it goes round the lifecycle for ~1,500 events before it ends.
    walk(13, 2000, stats);
    expect(stats.steps).toBe(2000);
    // The walk really went somewhere (several kinds of transitions and of refusals) and ended up
    // in a terminal state, so that "never leaves it" was put to the test.
    expect(stats.accepted.size).toBeGreaterThanOrEqual(12);
    expect(stats.errors).toEqual(new Set(["invalid_argument", "invalid_transition", "stale_attempt"]));
    // (Three times: a synced loop reopened by review feedback is synced again later.)
    expect(stats.terminal).toBe(3);
  });

  it("many seeds together reach every accepted (state, event) pair and every error code", () => {
    const stats = newStats();
    for (let seed = 1; seed <= 20; seed++) walk(seed, 2000, stats);
    // Most walks end in a terminal state within their 2,000 events; some stay alive to the end.
    expect(stats.terminal).toBeGreaterThanOrEqual(15);
    expect([...stats.accepted].sort()).toEqual(Object.keys(ACCEPTED).sort());
    expect([...stats.errors].sort()).toEqual(["invalid_argument", "invalid_transition", "stale_attempt"]);
  });
});

describe("reviewRequested", () => {
  const review = (fingerprint: string, feedback = "rename the flag"): LoopEvent => ({
    type: "reviewRequested",
    source: "changes requested by @ana",
    feedback,
    fingerprint,
    id: `review-${fingerprint}`,
    actor: "github:ana",
    at: AT,
  });

  it("queues the synced loop again with the feedback as steering, a fresh attempt budget and the round counted", () => {
    const loop = makeLoop("synced");
    const next = expectOk(transition(loop, review("fp-1")));
    expect(next.status).toMatchObject({
      state: "unresolved",
      reason: "review-feedback",
      message: "review round 1: changes requested by @ana",
      reviewRound: 1,
      reviewPending: true,
      attemptBase: loop.status.attempt,
    });
    expect(next.status.finishedAt).toBeUndefined();
    expect(next.steering.at(-1)).toEqual({
      id: "review-fp-1",
      message: "Review feedback (changes requested by @ana):\nrename the flag",
      at: AT,
      actor: "github:ana",
    });
  });

  it("synced again clears the pending feedback; the same failure twice in a row waits for a person", () => {
    const first = expectOk(transition(makeLoop("synced"), review("fp-1")));
    const claimed = expectOk(transition(first, { type: "claimed", schedulerId: "s", at: AT }));
    const synced = expectOk(
      transition(claimed, {
        type: "finalized",
        attempt: claimed.status.attempt,
        outcome: "synced",
        reason: "all-stories-passed",
        at: AT,
      }),
    );
    expect(synced.status.reviewPending).toBeUndefined();
    expect(synced.status.reviewRound).toBe(1);
    const again = expectOk(transition(synced, review("fp-1", "still wrong")));
    expect(again.status).toMatchObject({
      state: "waiting",
      reason: "review-repeating",
      reviewRound: 1,
      reviewPending: true,
      waitingSince: AT,
    });
    expect(again.status.question).toContain("the same feedback again");
    // The feedback waits with the loop: the attempt an answer starts addresses it.
    expect(again.steering.at(-1)?.message).toContain("still wrong");
    const answered = expectOk(
      transition(again, { type: "answered", answer: "rename it to --dry", actor: "bob", id: "a1", at: AT }),
    );
    expect(answered.status).toMatchObject({ state: "unresolved", reason: "answered", reviewPending: true });
  });

  it("after limits.maxReviewRounds rounds the next feedback waits for a person", () => {
    const loop = makeLoop("synced", { reviewRound: 3, reviewFingerprint: "fp-3" });
    const next = expectOk(transition(loop, review("fp-4")));
    expect(next.status).toMatchObject({ state: "waiting", reason: "review-rounds-exhausted", reviewPending: true });
  });

  it("refuses blank or oversized feedback and a missing fingerprint, changing nothing", () => {
    const loop = deepFreeze(makeLoop("synced"));
    expectError(transition(loop, review("fp-1", "  ")), "invalid_argument");
    expectError(transition(loop, review("fp-1", "x".repeat(LIMITS.steerMessageBytes))), "invalid_argument");
    expectError(transition(loop, review("")), "invalid_argument");
    expectError(transition(loop, review("f".repeat(129))), "invalid_argument");
  });
});
