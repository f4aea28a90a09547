import type { Loop } from "./loop.ts";

/**
 * What the reconciler does with a `waiting` loop at `now`: a loop parked for `quota` resumes once
 * its reset time has passed, or `limits.quotaWaitMs` after it was parked when it has none (it waits
 * for no person, so the waiting timeout does not apply to it); any other waiting loop is abandoned once it has waited longer than
 * `limits.waitingTimeoutMs`. Nothing to do otherwise, or for a loop that is not waiting.
 */
export type WaitingDecision = { action: "resume" } | { action: "abandon" } | { action: "none"; until?: string };

export function waitingDecision(loop: Loop, now: Date): WaitingDecision {
  const status = loop.status;
  if (status.state !== "waiting") return { action: "none" };
  if (status.reason === "quota") {
    // A writer that gave no reset time (the replica always gives one) gets the spec's default wait.
    const resumeAt =
      status.resumeAt ??
      new Date(Date.parse(status.waitingSince ?? status.updatedAt) + loop.spec.limits.quotaWaitMs).toISOString();
    return Date.parse(resumeAt) <= now.getTime() ? { action: "resume" } : { action: "none", until: resumeAt };
  }
  const since = Date.parse(status.waitingSince ?? status.updatedAt);
  const deadline = since + loop.spec.limits.waitingTimeoutMs;
  return deadline <= now.getTime()
    ? { action: "abandon" }
    : { action: "none", until: new Date(deadline).toISOString() };
}
