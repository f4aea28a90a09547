import type { Loop } from "@smith/core";
import { rmSync } from "node:fs";
import type { AttemptContext, Outcome } from "./context.ts";
import { recordEvidence, toGateRun } from "./evidence.ts";
import type { GatePlan } from "./gatePlan.ts";
import { runGates, runSetup } from "./gates.ts";
import type { Workspace } from "./workspace.ts";

/** The gates' state on the untouched base: which commands already fail there. */
export interface Baseline {
  failing: ReadonlySet<string>;
}

/**
 * Runs every gate on the untouched base before the first story, once per loop (a later attempt
 * reads the recorded result). A failing baseline is journaled and recorded; with `baseline: green`
 * the loop stops (`baseline-failing`, waiting for a person), otherwise stories are held to
 * "no worse than the base" per gate. A resumed branch is no longer the base: the base is checked
 * out beside it for this.
 */
export async function establishBaseline(
  ctx: AttemptContext,
  input: { loop: Loop; ws: Workspace; plan: GatePlan; env: Record<string, string>; timeoutMs: number },
): Promise<Baseline | Outcome> {
  const { loop, ws, plan, env } = input;
  if (plan.gates.length === 0) return { failing: new Set() };
  const recorded = loop.evidence?.baseline;
  if (recorded) {
    const failing = new Set(recorded.gates.filter((g) => !g.passed).map((g) => g.command));
    ctx.note(
      "baseline",
      `baseline from ${recorded.at}: ${failing.size ? `failing ${[...failing].join(", ")}` : "green"}`,
    );
    return { failing };
  }
  const baseSha = await ws.git.revParse(ws.base);
  let cwd = ctx.workDir;
  if (ws.resumed) {
    cwd = `${ctx.workDir}.baseline`;
    rmSync(cwd, { recursive: true, force: true });
    await ws.git.run(["worktree", "add", "--detach", "--quiet", cwd, baseSha]);
    await runSetup(ctx, plan.setup, { env, timeoutMs: input.timeoutMs, cwd });
  }
  try {
    const run = await runGates(ctx, plan.gates, {
      env,
      timeoutMs: input.timeoutMs,
      cwd,
      phase: "baseline",
      runAll: true,
    });
    const failing = new Set(run.results.filter((g) => !g.passed).map((g) => g.command));
    await recordEvidence(ctx, {
      baseline: {
        at: new Date().toISOString(),
        commit: baseSha,
        gates: run.results.map(toGateRun),
        passed: run.passed,
      },
    });
    if (failing.size === 0) {
      ctx.note("baseline", `baseline green on ${loop.spec.repo.baseBranch} (${baseSha.slice(0, 12)})`);
      return { failing };
    }
    const message = `the untouched ${loop.spec.repo.baseBranch} (${baseSha.slice(0, 12)}) already fails: ${[...failing].join(", ")}`;
    if (loop.spec.baseline === "green") {
      ctx.note("baseline", `${message}; the spec asks for a green baseline`, { level: "error" });
      return {
        outcome: "waiting",
        reason: "baseline-failing",
        message,
        question: `Fix the failing gates on ${loop.spec.repo.baseBranch}, or allow a failing baseline (baseline: "no-worse").`,
      };
    }
    ctx.note("baseline", `${message}; stories are held to no worse than that, gate by gate`, { level: "warn" });
    return { failing };
  } finally {
    if (cwd !== ctx.workDir) {
      await ws.git.run(["worktree", "remove", "--force", cwd], { allowFailure: true });
      rmSync(cwd, { recursive: true, force: true });
    }
  }
}
