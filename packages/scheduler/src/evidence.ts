import type { ReplicaPhase } from "@smith/core";

/** What the reconciler knows about the replica of a running loop's current attempt. */
export interface ReplicaEvidence {
  now: number;
  /** When the attempt was claimed. */
  attemptStartedAt: number;
  startGraceMs: number;
  /** The lock: held and heartbeating; taken once by this attempt (then expired at `expiredAt`). */
  lock: { alive: boolean; everTaken: boolean; expiredAt?: number };
  /**
   * This scheduler's own executor's report, present only when that executor started the replica
   * (the handle names its instance, or its own list shows the attempt). A replica started by
   * another host's executor has none: this executor cannot see it, and "not found" from it says
   * nothing.
   */
  own?: { phase: ReplicaPhase };
  /**
   * No replica was recorded for the attempt and its claim record is gone: that record lives on the
   * claimer's session lease, so the scheduler that claimed it died (or lost etcd for longer than
   * its TTL) before it recorded a replica.
   */
  claimGone?: boolean;
}

export type Verdict =
  | { action: "keep"; why: string }
  /** The replica lives but has held no lock for too long (hung or cut off): stop it, retry later. */
  | { action: "stop"; why: string }
  /** The attempt is over: retry the loop (or flatline it). */
  | { action: "lost"; why: string; unstarted?: boolean };

/**
 * Whether a running attempt's replica is gone, from evidence the reconciler owns: its own
 * executor's report about a replica that executor started, or the lock. An attempt is declared
 * lost only when the own executor says the replica has ended, or when the lock was never taken
 * within the start grace, or has been expired for longer than the start grace (a replica cut off
 * from the API, by an outage shorter than that, heartbeats again and keeps its attempt).
 */
export function judgeReplica(e: ReplicaEvidence): Verdict {
  if (e.lock.alive) return { action: "keep", why: "the lock is alive" };
  const sinceStart = e.now - e.attemptStartedAt;
  const silentFor = e.lock.everTaken && e.lock.expiredAt !== undefined ? e.now - e.lock.expiredAt : sinceStart;
  const silentTooLong = silentFor > e.startGraceMs;
  const silence = e.lock.everTaken
    ? `the lock expired ${Math.round(silentFor / 1000)} s ago`
    : `no lock was taken in ${Math.round(sinceStart / 1000)} s`;
  if (e.claimGone && !e.lock.everTaken && !e.own) {
    // Not the loop's fault: queued again at once, the attempt not counted. A replica its claimer
    // did start in its last moment is fenced out by the next attempt and exits.
    return {
      action: "lost",
      unstarted: true,
      why: `its claimer's session ended ${Math.round(sinceStart / 1000)} s after the claim, before a replica was recorded`,
    };
  }
  if (e.own) {
    const live = e.own.phase === "running" || e.own.phase === "pending";
    if (!live) return { action: "lost", why: `its executor reports it ${e.own.phase}` };
    return silentTooLong
      ? { action: "stop", why: `it is ${e.own.phase} but ${silence}` }
      : { action: "keep", why: `it is ${e.own.phase}; ${silence}, within the grace` };
  }
  return silentTooLong
    ? { action: "lost", why: `${silence} (started by another executor: judged by its lock)` }
    : { action: "keep", why: `${silence}, within the grace` };
}
