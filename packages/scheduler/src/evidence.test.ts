import { describe, expect, it } from "vitest";
import { judgeReplica, type ReplicaEvidence } from "./evidence.ts";

const base = { now: 100_000, attemptStartedAt: 100_000, startGraceMs: 10_000 } as const;
const never = { alive: false, everTaken: false };
const expired = (at: number) => ({ alive: false, everTaken: true, expiredAt: at });

describe("judgeReplica: an attempt is lost only on evidence the reconciler owns", () => {
  const cases: [string, ReplicaEvidence, "keep" | "stop" | "lost"][] = [
    ["a live lock", { ...base, now: 1e9, lock: { alive: true, everTaken: true } }, "keep"],
    [
      "no replica recorded and the claim record gone, within the grace",
      { ...base, now: 101_000, lock: never, claimGone: true },
      "lost",
    ],
    [
      "the claim record gone but its own executor runs the replica",
      { ...base, now: 101_000, lock: never, own: { phase: "running" }, claimGone: true },
      "keep",
    ],
    [
      "the claim record gone but the lock alive",
      { ...base, now: 101_000, lock: { alive: true, everTaken: true }, claimGone: true },
      "keep",
    ],
    [
      "own replica running, lock not taken yet, within the grace",
      { ...base, now: 105_000, lock: never, own: { phase: "running" } },
      "keep",
    ],
    [
      "own replica running, no lock for longer than the grace",
      { ...base, now: 111_000, lock: never, own: { phase: "running" } },
      "stop",
    ],
    ["own replica failed, within the grace", { ...base, now: 101_000, lock: never, own: { phase: "failed" } }, "lost"],
    [
      "own replica exited, lock expired a moment ago",
      { ...base, now: 150_000, lock: expired(149_000), own: { phase: "succeeded" } },
      "lost",
    ],
    ["own handle with no run record", { ...base, now: 150_000, lock: never, own: { phase: "unknown" } }, "lost"],
    [
      "own replica running, cut off from the API shorter than the grace",
      { ...base, now: 150_000, lock: expired(142_000), own: { phase: "running" } },
      "keep",
    ],
    [
      "own replica running, lock expired longer than the grace",
      { ...base, now: 150_000, lock: expired(139_000), own: { phase: "running" } },
      "stop",
    ],
    ["another host's replica, lock not taken yet, within the grace", { ...base, now: 109_000, lock: never }, "keep"],
    ["another host's replica, no lock past the grace", { ...base, now: 111_000, lock: never }, "lost"],
    [
      "another host's replica, lock expired within the grace",
      { ...base, now: 150_000, lock: expired(141_000) },
      "keep",
    ],
    ["another host's replica, lock expired past the grace", { ...base, now: 150_000, lock: expired(139_000) }, "lost"],
  ];
  it.each(cases)("%s → %s", (_name, evidence, action) => {
    expect(judgeReplica(evidence).action).toBe(action);
  });
});
