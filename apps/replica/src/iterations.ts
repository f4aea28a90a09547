import {
  guardAfterIteration,
  guardBeforeIteration,
  isWaitingReason,
  questionFrom,
  markStory,
  nextReadyStory,
  NO_STREAKS,
  storyProgress,
  updateStreaks,
  type AgentAdapter,
  type AgentConfig,
  type AgentLimit,
  type AgentResult,
  type Loop,
  type PrdStory,
} from "@smith/core";
import { agentFailure } from "./agentJournal.ts";
import { runAgentStep } from "./agentStep.ts";
import type { Baseline } from "./baseline.ts";
import { commitStory, finalStory, pushBranch, REVIEW_FEEDBACK_PREFIX, reviewStory } from "./commit.ts";
import type { AttemptContext, Outcome } from "./context.ts";
import { recordEvidence, toGateRun } from "./evidence.ts";
import { finish } from "./finish.ts";
import type { GatePlan } from "./gatePlan.ts";
import { runGates, type GateResult } from "./gates.ts";
import { appendNotes, savePrd, type LoadedPrd } from "./prd.ts";
import { withRetry } from "./retry.ts";
import { verifyFinal } from "./verify.ts";
import type { Workspace } from "./workspace.ts";

/** An agent the loop may run: its own (index 0), then its fallbacks in order. */
export interface RunnableAgent {
  config: AgentConfig;
  adapter: AgentAdapter;
  /** The agent's environment: the sanitized env plus the provider key meant for it (gates never see it). */
  env: Record<string, string>;
}

export interface IterationsInput {
  loop: Loop;
  ws: Workspace;
  loaded: LoadedPrd;
  plan: GatePlan;
  baseline: Baseline;
  /** The loop's agent first, then its fallbacks: a usage or rate limit moves on to the next. */
  agents: readonly RunnableAgent[];
  env: Record<string, string>;
  gateTimeoutMs: number;
  /** Secret values the replica holds; a change containing one is never committed. */
  secrets: readonly string[];
}

/**
 * The loop proper: until every story is done or a guard stops it, pick the next ready story, run
 * the agent on it, run the gates, and commit and push only when they pass (and the change is safe
 * to commit). With every story done, the final verification integrates the latest base and runs
 * the gates once more; a conflict or a failing gate there is one more iteration, within the same
 * limits. Each iteration is recorded at the API (iteration number, progress, usage, evidence).
 */
export async function runIterations(ctx: AttemptContext, input: IterationsInput): Promise<Outcome> {
  const { loop, ws, loaded, env, plan } = input;
  /** Which of input.agents runs the next iteration. */
  let current = 0;
  const limits = loop.spec.limits;
  const failingAtBaseline = loop.spec.baseline === "no-worse" ? input.baseline.failing : new Set<string>();
  let iteration = loop.status.iteration;
  let costUsd = loop.cost.usd;
  let streaks = NO_STREAKS;
  let lastFailure: { story: string; text: string } | undefined;
  const decisions: string[] = [];
  let lastGates: GateResult[] = [];
  /** Iterations spent per story in this attempt (for the evidence). */
  const spent = new Map<string, number>();
  for (const s of loop.evidence?.stories ?? []) spent.set(s.storyId, s.iterations);
  /** Set when the final verification failed: the next iteration repairs it. */
  let pendingFinal: { failure: string; conflicts: string[] } | undefined;
  // A synced loop reopened by review feedback addresses it (one commit `fix(review-N)`) once every
  // story is done, before the final verification; a branch that already has that commit did.
  const reviewRound = loop.status.reviewRound ?? 0;
  let pendingReview =
    loop.status.reviewPending === true &&
    !(await ws.git.subjects(ws.base)).some((subject) => subject.startsWith(`fix(review-${reviewRound}):`));
  const reviewFeedback = loop.steering
    .filter((m) => m.message.startsWith(REVIEW_FEEDBACK_PREFIX))
    .map((m) => m.message.slice(0, 8 * 1024));
  // Smith's own files are not the agent's change: they do not count as progress.
  const ignore = [loaded.prdPath, loaded.notesPath];
  const end = (outcome: Outcome) =>
    finish(ctx, ws, { prd: loaded.prd, lastGates, decisions, gates: plan.gates }, outcome);

  for (;;) {
    ctx.checkStop();
    const progress = storyProgress(loaded.prd);
    const allDone = progress.done === progress.total;
    if (allDone && !pendingFinal && !pendingReview) {
      const v = await verifyFinal(ctx, {
        loop,
        ws,
        plan,
        baseline: input.baseline,
        env,
        timeoutMs: input.gateTimeoutMs,
      });
      if (v.gates.length) lastGates = v.gates;
      if (v.ok)
        return end({ outcome: "synced", reason: "all-stories-passed", message: `all ${progress.total} stories pass` });
      pendingFinal = { failure: v.failure, conflicts: v.conflicts };
      lastFailure = { story: "final-verification", text: v.failure };
    }
    const reviewing = allDone && pendingReview && !pendingFinal;
    const story: PrdStory | undefined = pendingFinal
      ? finalStory(loop.spec.repo.baseBranch, pendingFinal)
      : reviewing
        ? reviewStory(reviewRound, reviewFeedback)
        : nextReadyStory(loaded.prd);
    if (!story) {
      return end({
        outcome: "waiting",
        reason: "needs-human",
        message: "no story is ready: the remaining ones depend on stories that are not done",
      });
    }
    const stop = guardBeforeIteration(limits, {
      iterationsUsed: iteration - loop.status.iterationBase,
      costUsd,
      startedAt: loop.status.startedAt,
      now: Date.now(),
    });
    if (stop) return end({ outcome: isWaitingReason(stop.reason) ? "waiting" : "flatline", ...stop });

    iteration++;
    const startSha = await ws.git.headSha();
    // A conflict is repaired where a person would: the merge in progress, markers in the files.
    if (pendingFinal && pendingFinal.conflicts.length > 0) await ws.git.mergeKeepingConflicts(ws.base);
    const active = input.agents[current];
    if (!active) throw new Error("the loop has no agent to run");
    const result = await runAgentStep(ctx, {
      loop,
      agent: active.adapter,
      config: active.config,
      env: active.env,
      loaded,
      story,
      iteration,
      lastFailure: lastFailure?.story === story.id ? lastFailure.text : undefined,
    });
    costUsd += result.usd ?? 0;
    if (result.limit) {
      // Not the story's failure: the provider refused to work. The change so far stays in the tree
      // for the next agent; the iteration counts (it may have cost), the failure streaks do not.
      await recordIteration(ctx, iteration, loaded, result);
      // A repair of the final verification starts again from its merge; other work stays.
      if (pendingFinal) await cleanTree(ws, startSha, ignore);
      const next = input.agents[current + 1];
      if (next) {
        ctx.note("agent", failoverNote(active.config, next.config, current + 1, result.limit, iteration), {
          level: "warn",
          metadata: {
            failover: true,
            from: active.config.provider,
            to: next.config.provider,
            fallback: current + 1,
            limit: result.limit.kind,
          },
        });
        current++;
        continue;
      }
      const resumeAt = parkUntil(result.limit, limits.quotaWaitMs);
      return end({
        outcome: "waiting",
        reason: "quota",
        message:
          `${active.config.provider} hit its ${limitWords(result.limit)}${input.agents.length > 1 ? " and no fallback agent is left" : ""}: ${result.limit.message}`.slice(
            0,
            4000,
          ),
        resumeAt,
      });
    }
    if (result.summary) decisions.push(`${story.id}: ${result.summary.slice(0, 500)}`);
    const question = questionFrom(result.summary);
    if (question !== undefined) {
      // The agent stopped to ask: its uncommitted change is not gated or kept; the next attempt
      // starts again from the pushed work branch with the answer in its prompt.
      await recordIteration(ctx, iteration, loaded, result);
      return end({
        outcome: "waiting",
        reason: "question",
        message: `the agent asked a question on ${story.id}`,
        question,
      });
    }

    const changed = await ws.git.changedPaths(ignore);
    let failure = agentFailure(result, limits.agentTimeoutMs);
    // Gates that passed before the agent ran pass after it did nothing: that is no evidence.
    if (failure === undefined && changed.length === 0 && !pendingFinal)
      failure = "the agent changed no file: a story is done only on a change that passes the quality gates";
    let storyGates: GateResult[] = [];
    if (failure === undefined) {
      const gates = await runGates(ctx, plan.gates, {
        env,
        timeoutMs: input.gateTimeoutMs,
        storyId: story.id,
        failingAtBaseline,
      });
      lastGates = storyGates = gates.results;
      if (!gates.passed) failure = gates.failure;
    }
    ctx.checkStop();

    const at = new Date().toISOString();
    let commit: string | undefined;
    const gatesPassed = failure === undefined;
    // The progress notes go into the story's commit (the next attempt reads them from the branch).
    appendNotes(loaded, {
      at,
      storyId: story.id,
      iteration,
      attempt: ctx.attempt,
      passed: gatesPassed,
      text: gatesPassed ? (result.summary ?? "") : (failure ?? ""),
    });
    if (failure === undefined) {
      const before = loaded.prd;
      if (!pendingFinal && !reviewing) {
        loaded.prd = markStory(loaded.prd, story.id, "done", at);
        savePrd(loaded, loaded.prd);
      }
      const c = await commitStory(ctx, ws, {
        message: pendingFinal
          ? `fix: integrate the latest ${loop.spec.repo.baseBranch}`
          : reviewing
            ? `fix(review-${reviewRound}): address the review of the pull request`
            : `feat(${story.id}): ${story.title}`,
        storyId: story.id,
        startSha,
        policy: loop.spec.commit,
        secrets: input.secrets,
        changed,
      });
      if (c.ok) {
        commit = c.sha;
        // The final verification pushes (with a lease when it rebased): not a plain push here.
        if (!pendingFinal) await pushBranch(ctx, ws);
      } else {
        failure = c.failure;
        if (!pendingFinal && !reviewing) {
          loaded.prd = before;
          savePrd(loaded, loaded.prd);
        }
      }
    } else if (pendingFinal) {
      await cleanTree(ws, startSha, ignore);
    }
    const passed = failure === undefined;
    // Written after a passed commit only when it was refused: the notes of a passed story are in its commit.
    if (!passed && gatesPassed)
      appendNotes(loaded, { at, storyId: story.id, iteration, attempt: ctx.attempt, passed, text: failure ?? "" });
    if (passed) {
      lastFailure = undefined;
      pendingFinal = undefined;
      if (reviewing) pendingReview = false;
    } else {
      lastFailure = { story: story.id, text: failure ?? "" };
    }
    spent.set(story.id, (spent.get(story.id) ?? 0) + 1);
    {
      await recordEvidence(ctx, {
        story: {
          storyId: story.id.slice(0, 200),
          title: story.title.slice(0, 500),
          state: passed ? "passed" : "failed",
          iterations: spent.get(story.id) ?? 1,
          iteration,
          at,
          gates: storyGates.slice(0, 50).map(toGateRun),
          ...(commit ? { commit } : {}),
          ...(failure !== undefined && storyGates.every((g) => g.passed || g.failedAtBaseline)
            ? { failure: failure.slice(0, 1000) }
            : {}),
        },
      });
    }
    streaks = updateStreaks(streaks, { storyId: story.id, passed, changedFiles: changed.length });
    await recordIteration(ctx, iteration, loaded, result);
    const after = guardAfterIteration(limits, streaks, { storyId: story.id, passed, failure });
    if (after) return end({ outcome: isWaitingReason(after.reason) ? "waiting" : "flatline", ...after });
  }
}

/** Back to `sha` with a clean tree: a half-resolved merge helps nobody. Smith's own files (`keep`) stay. */
async function cleanTree(ws: Workspace, sha: string, keep: readonly string[]): Promise<void> {
  await ws.git.run(["merge", "--abort"], { allowFailure: true });
  await ws.git.run(["reset", "--quiet", "--hard", sha]);
  await ws.git.run(["clean", "-fdq", "--", ".", ...keep.map((p) => `:!${p}`)], { allowFailure: true });
}

function limitWords(limit: AgentLimit): string {
  return limit.kind === "usage-limit"
    ? "usage limit"
    : limit.kind === "rate-limit"
      ? "rate limit"
      : "capacity limit (overloaded)";
}

function failoverNote(from: AgentConfig, to: AgentConfig, index: number, limit: AgentLimit, iteration: number): string {
  const name = (c: AgentConfig) => `${c.provider}${c.model ? ` (${c.model})` : ""}`;
  const reset = limit.resetAt ? `, resets at ${limit.resetAt.toISOString()}` : "";
  return `failover: ${name(from)} hit its ${limitWords(limit)}${reset} on iteration ${iteration}; the next iteration runs fallback ${index}, ${name(to)}`;
}

/**
 * When a parked loop resumes: the reset time the agent gave, or `quotaWaitMs` from now when it
 * gave none (or one already past).
 */
function parkUntil(limit: AgentLimit, quotaWaitMs: number): string {
  const now = Date.now();
  const at = limit.resetAt?.getTime();
  return new Date(at !== undefined && at > now ? at : now + quotaWaitMs).toISOString();
}

/** Records a finished iteration at the API: its number, the progress, the agent's usage. */
async function recordIteration(
  ctx: AttemptContext,
  iteration: number,
  loaded: LoadedPrd,
  result: AgentResult,
): Promise<void> {
  const done = {
    loopId: ctx.loopId,
    iteration,
    progress: storyProgress(loaded.prd),
    usage: { inputTokens: result.inputTokens, outputTokens: result.outputTokens, usd: result.usd ?? 0 },
  };
  await withRetry(() => ctx.client.replica.recordIteration.mutate(done), { signal: ctx.signal });
}
