import { LIMITS } from "./limits.ts";
import { FLATLINE_REASON_CODES, LoopCost, Progress, SYNCED_REASON_CODES, WAITING_REASON_CODES } from "./loop.ts";
import type { ExecutorHandle, Loop, LoopState, ReasonCode } from "./loop.ts";

/**
 * The loop lifecycle as a pure function: `transition(loop, event)` returns the next loop or a
 * typed error. Every write of a loop's state goes through here; the store writes the result with
 * a transaction that compares the loop key's mod revision.
 *
 *   unresolved ──claimed──▶ running ──finalized──▶ synced | flatline | waiting
 *       ▲                     │  └──replicaLost (attempts left)──▶ unresolved
 *       ├──retryRequested── flatline
 *       └──answered | resumed── waiting ──timedOut──▶ flatline (abandoned)
 *   unresolved | running | waiting | flatline ──cancelRequested──▶ cancelled
 */
export type LoopEvent =
  | { type: "claimed"; schedulerId: string; at: string }
  | { type: "replicaStarted"; attempt: number; handle: ExecutorHandle; at: string }
  | {
      type: "iterationRecorded";
      attempt: number;
      /** The iteration number just finished (across attempts). A number already recorded is a no-op. */
      iteration: number;
      progress?: Progress;
      /** Usage of this iteration, added to the loop's cost. */
      cost?: LoopCost;
      at: string;
    }
  | {
      type: "finalized";
      attempt: number;
      outcome: "synced" | "flatline" | "waiting";
      reason: ReasonCode;
      message?: string;
      /** `waiting` only: what the person who answers is asked. */
      question?: string;
      /** `waiting` with reason `quota` only: when the usage limit resets and the loop resumes. */
      resumeAt?: string;
      at: string;
    }
  | {
      type: "replicaLost";
      attempt: number;
      /** Delay before the retry may be claimed. */
      backoffMs?: number;
      /**
       * No replica ever ran for this attempt: its claimer's session ended between the claim and
       * the start (the scheduler died). The attempt does not count against `maxAttempts` and the
       * loop is queued at once.
       */
      unstarted?: boolean;
      message?: string;
      at: string;
    }
  | { type: "timedOut"; at: string }
  /** A person answered a `waiting` loop: it goes back to the queue with the answer for its next prompt. */
  | { type: "answered"; answer: string; actor: string; id: string; at: string }
  /** The reset time of a loop parked for `quota` has passed: it goes back to the queue by itself. */
  | { type: "resumed"; at: string }
  | { type: "cancelRequested"; reason: string; at: string }
  | { type: "retryRequested"; reason: string; at: string }
  | {
      /** The synced loop's pull request got changes requested or a failing check run. */
      type: "reviewRequested";
      /** Where the feedback comes from, e.g. `changes requested by @ana` or `check run ci failed`. */
      source: string;
      /** What to address: the review's text and threads, or the check's output (bounded). */
      feedback: string;
      /** Identifies the failure: the same one twice in a row waits for a person instead of looping. */
      fingerprint: string;
      /** The steering message id the feedback is delivered under. */
      id: string;
      actor: string;
      at: string;
    }
  | { type: "forceState"; to: LoopState; reason: string; at: string };

export type LoopEventType = LoopEvent["type"];
export const LOOP_EVENT_TYPES: readonly LoopEventType[] = [
  "claimed",
  "replicaStarted",
  "iterationRecorded",
  "finalized",
  "replicaLost",
  "timedOut",
  "answered",
  "resumed",
  "cancelRequested",
  "retryRequested",
  "reviewRequested",
  "forceState",
];

/** Which events each state accepts. Anything else is `invalid_transition`. */
export const TRANSITIONS: Readonly<Record<LoopState, readonly LoopEventType[]>> = {
  unresolved: ["claimed", "timedOut", "cancelRequested", "forceState"],
  running: [
    "replicaStarted",
    "iterationRecorded",
    "finalized",
    "replicaLost",
    "timedOut",
    "cancelRequested",
    "forceState",
  ],
  waiting: ["timedOut", "answered", "resumed", "cancelRequested", "forceState"],
  flatline: ["cancelRequested", "retryRequested", "forceState"],
  synced: ["reviewRequested"],
  cancelled: [],
};

/** The states an operator may force a loop into, from each state. */
export const FORCE_TABLE: Readonly<Record<LoopState, readonly LoopState[]>> = {
  unresolved: ["flatline", "cancelled"],
  running: ["unresolved", "flatline", "cancelled"],
  waiting: ["unresolved", "flatline", "cancelled"],
  flatline: ["unresolved", "synced", "cancelled"],
  synced: [],
  cancelled: [],
};

const SYNCED_REASONS: readonly ReasonCode[] = SYNCED_REASON_CODES;
const FLATLINE_REASONS: readonly ReasonCode[] = FLATLINE_REASON_CODES;
const WAITING_REASONS: readonly ReasonCode[] = WAITING_REASON_CODES;

/** The waiting-only fields, cleared when a loop leaves `waiting`. */
const leaveWaiting = { question: undefined, waitingSince: undefined, resumeAt: undefined } as const;

/** LoopStatus.message is limited to this many characters. */
export const STATUS_MESSAGE_MAX = 4096;

export type TransitionErrorCode = "invalid_transition" | "stale_attempt" | "invalid_argument";
export interface TransitionError {
  code: TransitionErrorCode;
  message: string;
  from: LoopState;
  event: LoopEventType;
}
export type TransitionResult = { ok: true; loop: Loop; changed: boolean } | { ok: false; error: TransitionError };

export function transition(loop: Loop, event: LoopEvent): TransitionResult {
  const from = loop.status.state;
  const fail = (code: TransitionErrorCode, message: string): TransitionResult => ({
    ok: false,
    error: { code, message, from, event: event.type },
  });
  if (!TRANSITIONS[from].includes(event.type)) {
    return fail("invalid_transition", `a ${from} loop does not accept ${event.type}`);
  }
  if ("attempt" in event && event.attempt !== loop.status.attempt) {
    return fail("stale_attempt", `attempt ${event.attempt} is stale: the loop is on attempt ${loop.status.attempt}`);
  }
  const next = (status: Partial<Loop["status"]>, extra: Partial<Loop> = {}): TransitionResult => {
    // A status message is bounded (the loop record must stay valid and small): keep its head.
    const message =
      status.message !== undefined && status.message.length > STATUS_MESSAGE_MAX
        ? status.message.slice(0, STATUS_MESSAGE_MAX - 1) + "…"
        : status.message;
    const patch = "message" in status ? { ...status, message } : status;
    return {
      ok: true,
      changed: true,
      loop: { ...loop, ...extra, status: { ...loop.status, ...patch, updatedAt: event.at } },
    };
  };

  switch (event.type) {
    case "claimed":
      return next({
        state: "running",
        reason: undefined,
        message: undefined,
        attempt: loop.status.attempt + 1,
        claimedBy: event.schedulerId,
        executor: undefined,
        queueKey: undefined,
        notBefore: undefined,
        startedAt: loop.status.startedAt ?? event.at,
        attemptStartedAt: event.at,
      });
    case "replicaStarted":
      return next({ executor: event.handle });
    case "iterationRecorded": {
      if (!Number.isInteger(event.iteration) || event.iteration < 1) {
        return fail("invalid_argument", "iteration must be a positive integer");
      }
      if (event.iteration <= loop.status.iteration) {
        // A replica retrying a call whose answer it lost: already recorded, nothing to add.
        return { ok: true, changed: false, loop };
      }
      if (event.progress && event.progress.done > event.progress.total) {
        return fail("invalid_argument", "progress.done cannot exceed progress.total");
      }
      // A negative or fractional count would be summed into the stored loop, which then fails its
      // own schema on every later read.
      if (event.progress && !Progress.safeParse(event.progress).success) {
        return fail("invalid_argument", "progress counts must be non-negative integers");
      }
      if (event.cost && !LoopCost.safeParse(event.cost).success) {
        return fail(
          "invalid_argument",
          "cost must have non-negative integer token counts and a non-negative finite usd",
        );
      }
      const add = event.cost ?? { inputTokens: 0, outputTokens: 0, usd: 0 };
      return next(
        { iteration: event.iteration, progress: event.progress ?? loop.status.progress },
        {
          cost: {
            inputTokens: loop.cost.inputTokens + add.inputTokens,
            outputTokens: loop.cost.outputTokens + add.outputTokens,
            usd: roundUsd(loop.cost.usd + add.usd),
          },
        },
      );
    }
    case "finalized": {
      const allowed =
        event.outcome === "synced" ? SYNCED_REASONS : event.outcome === "waiting" ? WAITING_REASONS : FLATLINE_REASONS;
      if (!allowed.includes(event.reason)) {
        return fail("invalid_argument", `reason ${event.reason} does not go with ${event.outcome}`);
      }
      if (event.outcome !== "waiting") {
        if (event.question !== undefined || event.resumeAt !== undefined) {
          return fail("invalid_argument", `question and resumeAt go only with waiting, not ${event.outcome}`);
        }
        return next({
          state: event.outcome,
          reason: event.reason,
          message: event.message,
          finishedAt: event.at,
          // Synced again: the review feedback it was reopened for is addressed.
          ...(event.outcome === "synced" ? { reviewPending: undefined } : {}),
        });
      }
      if (event.question !== undefined && event.question.length > STATUS_MESSAGE_MAX) {
        return fail("invalid_argument", `question is longer than ${STATUS_MESSAGE_MAX} characters`);
      }
      if (event.resumeAt !== undefined && (event.reason !== "quota" || !isIsoDate(event.resumeAt))) {
        return fail("invalid_argument", "resumeAt must be an ISO date and goes only with reason quota");
      }
      return next({
        state: "waiting",
        reason: event.reason,
        message: event.message,
        question: event.question,
        resumeAt: event.resumeAt === undefined ? undefined : new Date(Date.parse(event.resumeAt)).toISOString(),
        waitingSince: event.at,
        // The attempt is over: nothing runs for this loop while it waits.
        claimedBy: undefined,
        executor: undefined,
      });
    }
    case "answered": {
      const answer = event.answer.trim();
      if (!answer) return fail("invalid_argument", "an answer is required");
      if (new TextEncoder().encode(answer).length > LIMITS.steerMessageBytes) {
        return fail("invalid_argument", `answer is larger than ${LIMITS.steerMessageBytes} bytes`);
      }
      // The answer reaches the next attempt's prompt the way steering messages do, with the
      // question it answers, and is acknowledged by the replica once it is in a prompt.
      const steering = [
        ...loop.steering,
        {
          id: event.id,
          message: answer,
          at: event.at,
          actor: event.actor,
          // What the loop waited on: the agent's question, else why it stopped (a loop that
          // waits for a person always carries one of the two; "" still marks it as an answer).
          question: loop.status.question ?? loop.status.message ?? "",
        },
      ];
      return next(resumeStatus(loop, "answered", `answered by ${event.actor}`), { steering });
    }
    case "resumed": {
      if (loop.status.reason !== "quota") {
        return fail(
          "invalid_transition",
          `a loop waiting for ${loop.status.reason ?? "a person"} resumes only with an answer`,
        );
      }
      if (loop.status.resumeAt !== undefined && Date.parse(loop.status.resumeAt) > Date.parse(event.at)) {
        return fail("invalid_argument", `the loop is parked until ${loop.status.resumeAt}`);
      }
      return next(resumeStatus(loop, "quota-reset", "the agent's usage limit has reset"));
    }
    case "replicaLost": {
      const unstarted = loop.status.unstartedAttempts ?? 0;
      if (event.unstarted && unstarted < loop.spec.limits.maxAttempts) {
        return next({
          state: "unresolved",
          reason: "retry-scheduled",
          message:
            event.message ?? `attempt ${loop.status.attempt} never started (its claimer went away); queued again`,
          attemptBase: loop.status.attemptBase + 1,
          unstartedAttempts: unstarted + 1,
          claimedBy: undefined,
          executor: undefined,
          notBefore: undefined,
        });
      }
      const used = loop.status.attempt - loop.status.attemptBase;
      if (used >= loop.spec.limits.maxAttempts) {
        return next({
          state: "flatline",
          reason: "replica-lost",
          message:
            event.message ??
            `replica lost on attempt ${loop.status.attempt}; ${used} of ${loop.spec.limits.maxAttempts} attempts used`,
          finishedAt: event.at,
        });
      }
      return next({
        state: "unresolved",
        reason: "retry-scheduled",
        message: event.message ?? `replica lost on attempt ${loop.status.attempt}; retrying`,
        claimedBy: undefined,
        executor: undefined,
        notBefore: event.backoffMs ? new Date(Date.parse(event.at) + event.backoffMs).toISOString() : undefined,
      });
    }
    case "timedOut":
      if (from === "waiting") {
        return next({
          ...leaveWaiting,
          state: "flatline",
          reason: "abandoned",
          message: `nobody answered within ${loop.spec.limits.waitingTimeoutMs} ms`,
          finishedAt: event.at,
        });
      }
      return next({
        state: "flatline",
        reason: "timed-out",
        message: "the loop exceeded its wall-clock timeout",
        finishedAt: event.at,
      });
    case "cancelRequested": {
      if (!event.reason.trim()) return fail("invalid_argument", "a reason is required to cancel");
      return next({
        ...leaveWaiting,
        state: "cancelled",
        reason: "operator-cancelled",
        message: event.reason,
        finishedAt: event.at,
      });
    }
    case "retryRequested": {
      if (!event.reason.trim()) return fail("invalid_argument", "a reason is required to retry");
      return next(retryStatus(loop, "operator-retry", event.reason));
    }
    case "reviewRequested":
      return reviewRequested(loop, event, next, fail);
    case "forceState": {
      if (!event.reason.trim()) return fail("invalid_argument", "a reason is required to force a state");
      if (!FORCE_TABLE[from].includes(event.to)) {
        return fail("invalid_transition", `an operator cannot force a ${from} loop to ${event.to}`);
      }
      if (event.to === "unresolved") return next(retryStatus(loop, "operator-override", event.reason));
      return next({
        ...leaveWaiting,
        state: event.to,
        reason: "operator-override",
        message: event.reason,
        finishedAt: event.at,
      });
    }
  }
}

/**
 * A synced loop whose pull request got feedback: the feedback goes to the next attempt as a
 * steering message and the loop is queued again (`review-feedback`), within
 * `limits.maxReviewRounds`. The same failure twice in a row (its fingerprint), or one round too
 * many, waits for a person instead, with the feedback kept for the attempt an answer starts.
 */
function reviewRequested(
  loop: Loop,
  event: Extract<LoopEvent, { type: "reviewRequested" }>,
  next: (status: Partial<Loop["status"]>, extra?: Partial<Loop>) => TransitionResult,
  fail: (code: TransitionErrorCode, message: string) => TransitionResult,
): TransitionResult {
  const feedback = event.feedback.trim();
  if (!feedback) return fail("invalid_argument", "review feedback is required");
  if (!event.fingerprint || event.fingerprint.length > 128) {
    return fail("invalid_argument", "a review fingerprint of 1 to 128 characters is required");
  }
  const source = event.source.slice(0, 500);
  const message = `Review feedback (${source}):\n${feedback}`;
  if (new TextEncoder().encode(message).length > LIMITS.steerMessageBytes) {
    return fail("invalid_argument", `review feedback is larger than ${LIMITS.steerMessageBytes} bytes`);
  }
  const round = (loop.status.reviewRound ?? 0) + 1;
  const steering = [...loop.steering, { id: event.id, message, at: event.at, actor: event.actor }];
  const common = {
    reviewPending: true,
    reviewFingerprint: event.fingerprint,
    finishedAt: undefined,
    claimedBy: undefined,
    executor: undefined,
  } as const;
  if (loop.status.reviewFingerprint === event.fingerprint) {
    return next(
      {
        ...common,
        state: "waiting",
        reason: "review-repeating",
        message: `the same review failure came back after round ${loop.status.reviewRound ?? 0}: ${source}`,
        question: `The pull request got the same feedback again (${source}). How should the agent address it?`,
        waitingSince: event.at,
      },
      { steering },
    );
  }
  if (round > loop.spec.limits.maxReviewRounds) {
    return next(
      {
        ...common,
        state: "waiting",
        reason: "review-rounds-exhausted",
        message: `review feedback after ${loop.spec.limits.maxReviewRounds} rounds: ${source}`,
        question: `The pull request still gets feedback after ${loop.spec.limits.maxReviewRounds} review rounds (${source}). Answer to run one more.`,
        waitingSince: event.at,
      },
      { steering },
    );
  }
  return next(
    { ...common, ...retryStatus(loop, "review-feedback", `review round ${round}: ${source}`), reviewRound: round },
    {
      steering,
    },
  );
}

function retryStatus(loop: Loop, reason: ReasonCode, message: string): Partial<Loop["status"]> {
  return {
    ...leaveWaiting,
    state: "unresolved",
    reason,
    message,
    attemptBase: loop.status.attempt,
    iterationBase: loop.status.iteration,
    // A retried loop gets its wall-clock budget afresh (it counts from the next claim).
    startedAt: undefined,
    claimedBy: undefined,
    executor: undefined,
    notBefore: undefined,
    finishedAt: undefined,
  };
}

/**
 * Back to the queue after waiting. The attempts and the wall clock start afresh (waiting for a
 * person or a quota reset must not use up the budget meant for runaway replicas); the iteration
 * count does not, so that answering a loop over and over cannot make it run without end.
 */
function resumeStatus(loop: Loop, reason: ReasonCode, message: string): Partial<Loop["status"]> {
  return {
    ...leaveWaiting,
    state: "unresolved",
    reason,
    message,
    attemptBase: loop.status.attempt,
    startedAt: undefined,
    claimedBy: undefined,
    executor: undefined,
    notBefore: undefined,
  };
}

function isIsoDate(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value));
}

/** Cost sums are kept to micro-dollars so that float noise does not accumulate. */
function roundUsd(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
