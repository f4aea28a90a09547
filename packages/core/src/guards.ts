import type { LoopLimits, ReasonCode } from "./loop.ts";

/**
 * The loop's guards as pure decisions: given the limits and what has happened so far, stop (with
 * a reason code and a message for a person) or go on. The replica asks them between iterations;
 * the reconciler asks `loopTimedOut` for loops whose replica is gone or stuck. Keeping them here
 * means both sides stop a loop for the same reasons at the same thresholds.
 */
export interface GuardStop {
  reason: ReasonCode;
  message: string;
}

/** The wall-clock timeout counts from the loop's first claim; a loop never claimed has none running. */
export function loopTimedOut(
  status: { startedAt?: string | undefined },
  limits: Pick<LoopLimits, "timeoutMs">,
  now: number,
): boolean {
  if (!status.startedAt) return false;
  return Date.parse(status.startedAt) + limits.timeoutMs < now;
}

export interface BeforeIterationState {
  /** Iterations counted against `maxIterations` (the loop's iteration minus its iteration base). */
  iterationsUsed: number;
  /** The loop's cost so far, including this attempt's iterations. */
  costUsd: number;
  startedAt?: string | undefined;
  now: number;
}

/**
 * Whether another iteration may start. Checked in this order, so that a loop past several limits
 * reports the one an operator can act on first: iterations, budget, wall clock.
 */
export function guardBeforeIteration(
  limits: Pick<LoopLimits, "maxIterations" | "maxCostUsd" | "timeoutMs">,
  state: BeforeIterationState,
): GuardStop | undefined {
  if (state.iterationsUsed >= limits.maxIterations) {
    return { reason: "max-iterations-reached", message: `${limits.maxIterations} iterations without finishing` };
  }
  if (limits.maxCostUsd !== undefined && state.costUsd >= limits.maxCostUsd) {
    return {
      reason: "budget-exceeded",
      message: `cost $${state.costUsd.toFixed(4)} reached the budget of $${limits.maxCostUsd}`,
    };
  }
  if (loopTimedOut({ startedAt: state.startedAt }, limits, state.now)) {
    return { reason: "timed-out", message: `the loop ran past its ${limits.timeoutMs} ms timeout` };
  }
  return undefined;
}

/** Counters the after-iteration guards read; carried across iterations of one attempt. */
export interface IterationStreaks {
  /** Failed iterations in a row, per story id (a pass clears the story's count). */
  failures: Readonly<Record<string, number>>;
  /** Iterations in a row that changed nothing in the working tree (a pass clears it). */
  noDiff: number;
}

export const NO_STREAKS: IterationStreaks = { failures: {}, noDiff: 0 };

export interface IterationOutcome {
  storyId: string;
  passed: boolean;
  /** Paths the agent changed (tracked and untracked), as the working tree shows them. */
  changedFiles: number;
}

/** The streaks after one iteration. */
export function updateStreaks(streaks: IterationStreaks, outcome: IterationOutcome): IterationStreaks {
  if (outcome.passed) {
    const failures = { ...streaks.failures };
    delete failures[outcome.storyId];
    return { failures, noDiff: 0 };
  }
  return {
    failures: { ...streaks.failures, [outcome.storyId]: (streaks.failures[outcome.storyId] ?? 0) + 1 },
    noDiff: outcome.changedFiles === 0 ? streaks.noDiff + 1 : 0,
  };
}

/**
 * Whether the loop must stop after an iteration: too many failures in a row on one story (a person
 * is needed), or too many iterations in a row that changed nothing.
 */
export function guardAfterIteration(
  limits: Pick<LoopLimits, "maxConsecutiveFailures" | "noProgressIterations">,
  streaks: IterationStreaks,
  last: { storyId: string; passed: boolean; failure?: string | undefined },
): GuardStop | undefined {
  const failures = streaks.failures[last.storyId] ?? 0;
  if (!last.passed && failures >= limits.maxConsecutiveFailures) {
    return {
      reason: "needs-human",
      message: `${last.storyId} failed ${limits.maxConsecutiveFailures} iterations in a row: ${(last.failure ?? "").split("\n")[0] ?? ""}`,
    };
  }
  if (streaks.noDiff >= limits.noProgressIterations) {
    return { reason: "no-progress", message: `${streaks.noDiff} iterations in a row changed nothing` };
  }
  return undefined;
}
