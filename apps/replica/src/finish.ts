import type { Handoff, Prd } from "@smith/core";
import type { AttemptContext, Outcome } from "./context.ts";
import type { GateResult } from "./gates.ts";
import { publishPullRequest } from "./publish.ts";
import { withRetry } from "./retry.ts";
import type { Workspace } from "./workspace.ts";

/** Writes the handoff for the next attempt (or a person), then returns the outcome to finalize with. */
export async function finish(
  ctx: AttemptContext,
  ws: Workspace,
  state: { prd: Prd; lastGates: readonly GateResult[]; decisions: readonly string[]; gates?: readonly string[] },
  outcome: Outcome,
): Promise<Outcome> {
  const { prd, lastGates: gates } = state;
  const diffSummary = await ws.git.diffStat(ws.base).catch(() => "");
  const sha = await ws.git.headSha().catch(() => "");
  const failedGate = gates.find((g) => !g.passed);
  const handoff: Omit<Handoff, "schemaVersion" | "loopId" | "attempt" | "createdAt"> = {
    done: prd.stories.filter((s) => s.status === "done").map((s) => `${s.id}: ${s.title}`),
    remaining: prd.stories.filter((s) => s.status !== "done").map((s) => `${s.id}: ${s.title}`),
    decisions: state.decisions.slice(-20),
    uncertain: failedGate ? [`${failedGate.command} failed: ${failedGate.outputTail.slice(-1000)}`] : [],
    diffSummary,
    validation: {
      state: gates.length === 0 ? "not-run" : failedGate ? "failed" : "passed",
      details: gates.map((g) => `${g.passed ? "pass" : "FAIL"} ${g.command} (${g.durationMs} ms)`).join("\n"),
    },
    nextSteps:
      outcome.outcome === "synced"
        ? ["review and merge the work branch"]
        : prd.stories.filter((s) => s.status !== "done").map((s) => `finish ${s.id}: ${s.title}`),
    artifactRefs: sha ? [`commit:${sha}`] : [],
  };
  // The pull request goes out before the handoff so that the handoff names it; a retried attempt
  // updates the same pull request (the API finds it by its head branch).
  if (outcome.outcome === "synced") {
    const url = await publishPullRequest(ctx, ws, {
      prd,
      gates: state.gates ?? gates.filter((g) => g.passed).map((g) => g.command),
      decisions: handoff.decisions,
      uncertain: handoff.uncertain,
      diffStat: diffSummary,
    });
    if (url) handoff.artifactRefs.push(`pr:${url}`);
  }
  await withRetry(() => ctx.client.replica.writeHandoff.mutate({ loopId: ctx.loopId, handoff }));
  ctx.note("handoff", `handoff written: ${handoff.done.length} done, ${handoff.remaining.length} remaining`);
  return outcome;
}
