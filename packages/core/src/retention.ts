import { z } from "zod";
import { LoopState, isFinished, type Loop } from "./loop.ts";

/** Loops kept at most this long by any window (100 years): a bound that keeps the arithmetic exact. */
export const MAX_RETENTION_MS = 100 * 365 * 86_400_000;

/** A retention window in milliseconds. */
export const RetentionWindowMs = z
  .number()
  .int()
  .min(1, "must be at least 1 ms")
  .max(MAX_RETENTION_MS, `must be at most ${MAX_RETENTION_MS} ms (100 years)`);

/** The per-pass cap: a pass deletes at most this many loops, so one pass never floods etcd. */
export const RETENTION_MAX_PER_PASS = 10_000;

/**
 * How long loops of each state (and audit events) are kept after they finished. A state without
 * a window is kept forever. Windows of active states (`unresolved`, `running`, `waiting`) select
 * loops only to report them: an active loop is never deleted.
 */
export const RetentionPolicy = z.object({
  windows: z.partialRecord(LoopState, RetentionWindowMs),
  /** Audit events older than this are deleted (whole UTC days). Absent: kept forever. */
  auditMs: RetentionWindowMs.optional(),
  /** Loops deleted at most per pass (the rest go in the next pass). */
  maxPerPass: z
    .number()
    .int()
    .min(1, "must be at least 1")
    .max(RETENTION_MAX_PER_PASS, `must be at most ${RETENTION_MAX_PER_PASS}`)
    .default(500),
});
export type RetentionPolicy = z.infer<typeof RetentionPolicy>;
/** A policy as callers write it (the cap defaults). */
export type RetentionPolicyInput = z.input<typeof RetentionPolicy>;

/** When a loop's retention clock started: when it finished, else its last change. */
export function retentionSince(loop: Loop): number {
  return Date.parse(loop.status.finishedAt ?? loop.status.updatedAt);
}

export type RetentionVerdict =
  | { action: "keep" }
  | { action: "delete"; since: number }
  /** Old enough, but active: deleting it would pull the ground from under its replica or its question. */
  | { action: "skip"; since: number; why: string };

/** What the policy does to one loop at `now` (pure). */
export function retentionVerdict(
  loop: Loop,
  windows: Partial<Record<LoopState, number>>,
  now: number,
): RetentionVerdict {
  const state = loop.status.state;
  const window = windows[state];
  if (window === undefined) return { action: "keep" };
  const since = retentionSince(loop);
  if (now - since < window) return { action: "keep" };
  if (!isFinished(state)) return { action: "skip", since, why: `${state} is active: cancel it first` };
  return { action: "delete", since };
}
