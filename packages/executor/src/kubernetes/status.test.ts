import type { V1Job, V1JobCondition } from "@kubernetes/client-node";
import type { ReplicaStatus } from "@smith/core";
import { describe, expect, it } from "vitest";
import { jobOwner, replicaStatusFromJob } from "./status.ts";

const cond = (type: string, status = "True", reason?: string, message?: string): V1JobCondition => ({
  type,
  status,
  reason,
  message,
});
const job = (status: V1Job["status"], metadata: V1Job["metadata"] = { name: "j" }): V1Job => ({ metadata, status });

describe("replicaStatusFromJob", () => {
  it.each<{ name: string; job: V1Job | undefined; expected: ReplicaStatus }>([
    { name: "no Job", job: undefined, expected: { phase: "unknown", message: "the Job does not exist" } },
    { name: "no status yet", job: job(undefined), expected: { phase: "pending" } },
    { name: "nothing active", job: job({ active: 0 }), expected: { phase: "pending" } },
    { name: "an active Pod", job: job({ active: 1, startTime: new Date() }), expected: { phase: "running" } },
    {
      name: "Complete",
      job: job({ succeeded: 1, conditions: [cond("SuccessCriteriaMet"), cond("Complete")] }),
      expected: { phase: "succeeded", exitCode: 0 },
    },
    {
      name: "SuccessCriteriaMet while Pods terminate",
      job: job({ active: 1, conditions: [cond("SuccessCriteriaMet")] }),
      expected: { phase: "succeeded", exitCode: 0 },
    },
    {
      name: "Failed with a reason",
      job: job({
        failed: 1,
        conditions: [
          cond("FailureTarget", "True", "BackoffLimitExceeded"),
          cond("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ],
      }),
      expected: { phase: "failed", message: "BackoffLimitExceeded: Job has reached the specified backoff limit" },
    },
    {
      name: "FailureTarget (deadline exceeded, Pod terminating)",
      job: job({
        active: 1,
        conditions: [
          cond("FailureTarget", "True", "DeadlineExceeded", "Job was active longer than specified deadline"),
        ],
      }),
      expected: { phase: "failed", message: "DeadlineExceeded: Job was active longer than specified deadline" },
    },
    { name: "Failed without reason", job: job({ conditions: [cond("Failed")] }), expected: { phase: "failed" } },
    {
      name: "a condition that is False is ignored",
      job: job({ active: 1, conditions: [cond("Failed", "False")] }),
      expected: { phase: "running" },
    },
    {
      name: "Suspended is not terminal",
      job: job({ conditions: [cond("Suspended")] }),
      expected: { phase: "pending" },
    },
    {
      name: "a Job being deleted",
      job: job({ active: 1 }, { name: "j", deletionTimestamp: new Date() }),
      expected: { phase: "failed", message: "the Job is being deleted" },
    },
  ])("$name", ({ job, expected }) => {
    expect(replicaStatusFromJob(job)).toEqual(expected);
  });
});

describe("jobOwner", () => {
  it.each<{ labels: Record<string, string> | undefined; expected: unknown }>([
    { labels: { "smith.dev/loop-id": "abc", "smith.dev/attempt": "3" }, expected: { loopId: "abc", attempt: 3 } },
    { labels: { "smith.dev/loop-id": "abc" }, expected: undefined },
    { labels: { "smith.dev/loop-id": "abc", "smith.dev/attempt": "x" }, expected: undefined },
    { labels: { "smith.dev/attempt": "1" }, expected: undefined },
    { labels: undefined, expected: undefined },
  ])("$labels", ({ labels, expected }) => {
    expect(jobOwner({ metadata: { name: "j", labels } })).toEqual(expected);
  });
});
