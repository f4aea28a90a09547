import type { V1Job, V1JobCondition } from "@kubernetes/client-node";
import type { ReplicaStatus } from "@smith/core";
import { LABEL_ATTEMPT, LABEL_LOOP_ID } from "./manifests.ts";

/** The first of `types` (in that order of preference) that the Job has with status True. */
function condition(job: V1Job, ...types: string[]): V1JobCondition | undefined {
  for (const type of types) {
    const c = job.status?.conditions?.find((x) => x.type === type && x.status === "True");
    if (c) return c;
  }
  return undefined;
}

function describe(c: V1JobCondition): string | undefined {
  const text = [c.reason, c.message].filter(Boolean).join(": ");
  return text || undefined;
}

/**
 * A replica's phase from its Job, as the Job controller reports it:
 * - `Complete` (or `SuccessCriteriaMet`, set first while Pods are still being cleaned up) → succeeded;
 * - `Failed` (or `FailureTarget`, its forerunner: the Pod is being terminated, e.g. after
 *   `DeadlineExceeded`) → failed;
 * - a Job being deleted → failed (it will not run to completion);
 * - an active Pod → running; anything else (Pod not created yet) → pending;
 * - no Job at all → unknown: it was deleted, expired by its TTL, or never created.
 */
export function replicaStatusFromJob(job: V1Job | undefined): ReplicaStatus {
  if (!job) return { phase: "unknown", message: "the Job does not exist" };
  const done = condition(job, "Complete", "SuccessCriteriaMet");
  if (done) return { phase: "succeeded", exitCode: 0 };
  const failed = condition(job, "Failed", "FailureTarget");
  if (failed) {
    const message = describe(failed);
    return message ? { phase: "failed", message } : { phase: "failed" };
  }
  if (job.metadata?.deletionTimestamp) return { phase: "failed", message: "the Job is being deleted" };
  if ((job.status?.active ?? 0) > 0) return { phase: "running" };
  return { phase: "pending" };
}

/** The loop and attempt a Job belongs to, from its labels; undefined for a Job that is not a replica's. */
export function jobOwner(job: V1Job): { loopId: string; attempt: number } | undefined {
  const labels = job.metadata?.labels ?? {};
  const loopId = labels[LABEL_LOOP_ID];
  const attempt = Number(labels[LABEL_ATTEMPT]);
  if (!loopId || !Number.isInteger(attempt) || attempt < 0) return undefined;
  return { loopId, attempt };
}
