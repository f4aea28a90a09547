import { evidenceTail, type EvidenceUpdate, type GateRun } from "@smith/core";
import type { AttemptContext } from "./context.ts";
import type { GateResult } from "./gates.ts";
import { withRetry } from "./retry.ts";

/** A gate result as the loop record keeps it (a shorter output tail than the journal's). */
export function toGateRun(g: GateResult): GateRun {
  return {
    command: g.command,
    exitCode: g.exitCode,
    durationMs: g.durationMs,
    passed: g.passed,
    timedOut: g.timedOut,
    outputTail: evidenceTail(g.outputTail),
    ...(g.failedAtBaseline ? { failedAtBaseline: true } : {}),
  };
}

/** Stores evidence on the loop through the API (retried: an update replaces, so a repeat is harmless). */
export async function recordEvidence(ctx: AttemptContext, update: EvidenceUpdate): Promise<void> {
  await withRetry(() => ctx.client.replica.recordEvidence.mutate({ loopId: ctx.loopId, update }), {
    signal: ctx.signal,
  });
}
