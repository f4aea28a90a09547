import {
  BatchV1Api,
  type KubeConfig,
  type V1Job,
  type V1JobCondition,
  type V1JobStatus,
} from "@kubernetes/client-node";

export type JobOutcome = "running" | "complete" | "failed";

export interface SetJobStatusOptions {
  /** Reason of the Failed condition. Default `BackoffLimitExceeded` (a Pod failed, backoffLimit 0). */
  reason?: string;
  message?: string;
}

/**
 * Writes a Job's status through the `status` subresource the way the Job controller would,
 * since no controller runs next to the test apiserver. The apiserver validates status
 * transitions, so the shapes follow the controller's:
 * - running: `startTime`, one active Pod;
 * - complete: `SuccessCriteriaMet` then `Complete` (both True), `succeeded: 1`, `completionTime`;
 * - failed: `FailureTarget` then `Failed` (both True), `failed: 1`, no active Pod.
 */
export async function setJobStatus(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  outcome: JobOutcome,
  options: SetJobStatusOptions = {},
): Promise<V1Job> {
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const job = await batch.readNamespacedJobStatus({ name, namespace });
  const now = new Date();
  // The apiserver stores seconds; keep startTime <= completionTime after that rounding.
  const startTime = job.status?.startTime ?? new Date(now.getTime() - 1000);
  const condition = (type: string, reason: string, message: string): V1JobCondition => ({
    type,
    status: "True",
    reason,
    message,
    lastProbeTime: now,
    lastTransitionTime: now,
  });
  let status: V1JobStatus;
  switch (outcome) {
    case "running":
      status = { startTime, active: 1, ready: 1, terminating: 0 };
      break;
    case "complete":
      status = {
        startTime,
        completionTime: now,
        active: 0,
        ready: 0,
        terminating: 0,
        succeeded: 1,
        uncountedTerminatedPods: {},
        conditions: [
          condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
          condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
        ],
      };
      break;
    case "failed": {
      const reason = options.reason ?? "BackoffLimitExceeded";
      const message = options.message ?? "Job has reached the specified backoff limit";
      status = {
        startTime,
        active: 0,
        ready: 0,
        terminating: 0,
        failed: 1,
        uncountedTerminatedPods: {},
        conditions: [condition("FailureTarget", reason, message), condition("Failed", reason, message)],
      };
      break;
    }
  }
  return batch.replaceNamespacedJobStatus({ name, namespace, body: { ...job, status } });
}
