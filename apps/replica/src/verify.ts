import type { Loop } from "@smith/core";
import type { Baseline } from "./baseline.ts";
import type { AttemptContext } from "./context.ts";
import { recordEvidence, toGateRun } from "./evidence.ts";
import type { GatePlan } from "./gatePlan.ts";
import { runGates, type GateResult } from "./gates.ts";
import type { Workspace } from "./workspace.ts";

export type Verification =
  | { ok: true; sha: string; gates: GateResult[] }
  | { ok: false; failure: string; conflicts: string[]; gates: GateResult[] };

/**
 * Before `synced`: take in the latest base (rebase, or merge by the spec's `integrate`), run every
 * gate once more on that final tree, and push only when they pass. A rebased branch is pushed with
 * a lease on what this attempt last saw of the remote branch, so nobody's commits are overwritten.
 * A conflict (the integration is aborted) or a failing gate comes back as a failure for one more
 * iteration.
 */
export async function verifyFinal(
  ctx: AttemptContext,
  input: {
    loop: Loop;
    ws: Workspace;
    plan: GatePlan;
    baseline: Baseline;
    env: Record<string, string>;
    timeoutMs: number;
  },
): Promise<Verification> {
  const { loop, ws, plan } = input;
  const { git } = ws;
  const baseBranch = loop.spec.repo.baseBranch;
  const method = loop.spec.integrate;
  await git.fetch(baseBranch);
  const baseSha = await git.revParse(ws.base);
  const remoteExists = await git.remoteBranchExists(ws.branch);
  if (remoteExists) await git.fetch(ws.branch);
  const remoteSha = remoteExists ? await git.revParse(`origin/${ws.branch}`) : undefined;
  if (await git.isAncestor(baseSha)) {
    ctx.note("verify", `the work branch already contains ${baseBranch} (${baseSha.slice(0, 12)})`);
  } else {
    const r = await git.integrate(ws.base, method, `Merge ${baseBranch} into ${ws.branch}`);
    if (!r.ok) {
      const failure = `Integrating the latest ${baseBranch} (${baseSha.slice(0, 12)}) by ${method} conflicts in: ${r.conflicts.join(", ") || "(unknown paths)"}\n${r.output}`;
      ctx.note("verify", failure, { level: "warn", metadata: { conflicts: r.conflicts, method, base: baseSha } });
      await recordEvidence(ctx, {
        final: {
          at: new Date().toISOString(),
          commit: await git.headSha(),
          base: baseSha,
          method,
          gates: [],
          passed: false,
        },
      });
      return { ok: false, failure, conflicts: r.conflicts, gates: [] };
    }
    ctx.note("verify", `integrated ${baseBranch} (${baseSha.slice(0, 12)}) by ${method}`, {
      metadata: { method, base: baseSha },
    });
  }
  const sha = await git.headSha();
  const run = await runGates(ctx, plan.gates, {
    env: input.env,
    timeoutMs: input.timeoutMs,
    phase: "verify",
    failingAtBaseline: loop.spec.baseline === "no-worse" ? input.baseline.failing : new Set(),
  });
  await recordEvidence(ctx, {
    final: {
      at: new Date().toISOString(),
      commit: sha,
      base: baseSha,
      method,
      gates: run.results.map(toGateRun),
      passed: run.passed,
    },
  });
  if (!run.passed) {
    return {
      ok: false,
      failure: `After integrating the latest ${baseBranch} (${baseSha.slice(0, 12)}), a quality gate fails on the final tree:\n${run.failure}`,
      conflicts: [],
      gates: run.results,
    };
  }
  const start = performance.now();
  if (remoteSha && !(await git.isAncestor(remoteSha))) await git.pushWithLease(ws.branch, remoteSha);
  else await git.push(ws.branch);
  ctx.note("push", `verified on ${baseBranch} ${baseSha.slice(0, 12)} and pushed ${ws.branch} (${sha.slice(0, 12)})`, {
    command: `git push origin HEAD:${ws.branch}`,
    exitCode: 0,
    durationMs: Math.round(performance.now() - start),
  });
  return { ok: true, sha, gates: run.results };
}
