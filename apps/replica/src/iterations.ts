import {
  guardAfterIteration,
  guardBeforeIteration,
  isWaitingReason,
  markStory,
  nextReadyStory,
  NO_STREAKS,
  storyProgress,
  updateStreaks,
  type AgentAdapter,
  type Loop,
} from "@smith/core";
import { agentFailure } from "./agentJournal.ts";
import { runAgentStep } from "./agentStep.ts";
import { commitAndPush } from "./commit.ts";
import type { AttemptContext, Outcome } from "./context.ts";
import { finish } from "./finish.ts";
import { runGates, type GateResult } from "./gates.ts";
import { appendNotes, savePrd, type LoadedPrd } from "./prd.ts";
import { withRetry } from "./retry.ts";
import type { Workspace } from "./workspace.ts";

export interface IterationsInput {
  loop: Loop;
  ws: Workspace;
  loaded: LoadedPrd;
  agent: AgentAdapter;
  env: Record<string, string>;
  gateTimeoutMs: number;
}

/**
 * The loop proper: until every story is done or a guard stops it, pick the next ready story, run
 * the agent on it, run the gates, and commit and push only when they pass. Each iteration is
 * recorded at the API (iteration number, progress, usage) before the next starts.
 */
export async function runIterations(ctx: AttemptContext, input: IterationsInput): Promise<Outcome> {
  const { loop, ws, loaded, agent, env } = input;
  const limits = loop.spec.limits;
  let iteration = loop.status.iteration;
  let costUsd = loop.cost.usd;
  let streaks = NO_STREAKS;
  let lastFailure: { story: string; text: string } | undefined;
  const decisions: string[] = [];
  let lastGates: GateResult[] = [];
  // Smith's own files are not the agent's change: they do not count as progress.
  const ignore = [loaded.prdPath, loaded.notesPath];
  const end = (outcome: Outcome) =>
    finish(ctx, ws, { prd: loaded.prd, lastGates, decisions, gates: loaded.gates }, outcome);

  for (;;) {
    ctx.checkStop();
    const story = nextReadyStory(loaded.prd);
    const progress = storyProgress(loaded.prd);
    if (progress.done === progress.total) {
      return end({ outcome: "synced", reason: "all-stories-passed", message: `all ${progress.total} stories pass` });
    }
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
    if (stop) return end({ outcome: "flatline", ...stop });

    iteration++;
    const result = await runAgentStep(ctx, {
      loop,
      agent,
      env,
      loaded,
      story,
      iteration,
      lastFailure: lastFailure?.story === story.id ? lastFailure.text : undefined,
    });
    costUsd += result.usd ?? 0;
    if (result.summary) decisions.push(`${story.id}: ${result.summary.slice(0, 500)}`);

    const changed = await ws.git.changedPaths(ignore);
    let failure = agentFailure(result, limits.agentTimeoutMs);
    if (failure === undefined) {
      const gates = await runGates(ctx, loaded.gates, { env, timeoutMs: input.gateTimeoutMs, storyId: story.id });
      lastGates = gates.results;
      if (!gates.passed) failure = gates.failure;
    }
    const passed = failure === undefined;
    ctx.checkStop();

    const at = new Date().toISOString();
    appendNotes(loaded, {
      at,
      storyId: story.id,
      iteration,
      attempt: ctx.attempt,
      passed,
      text: passed ? (result.summary ?? "") : (failure ?? ""),
    });
    if (passed) {
      loaded.prd = markStory(loaded.prd, story.id, "done", at);
      savePrd(loaded, loaded.prd);
      await commitAndPush(ctx, ws, story, changed);
      lastFailure = undefined;
    } else {
      lastFailure = { story: story.id, text: failure ?? "" };
    }
    streaks = updateStreaks(streaks, { storyId: story.id, passed, changedFiles: changed.length });
    const iterationDone = {
      loopId: ctx.loopId,
      iteration,
      progress: storyProgress(loaded.prd),
      usage: { inputTokens: result.inputTokens, outputTokens: result.outputTokens, usd: result.usd ?? 0 },
    };
    await withRetry(() => ctx.client.replica.recordIteration.mutate(iterationDone), { signal: ctx.signal });
    const after = guardAfterIteration(limits, streaks, { storyId: story.id, passed, failure });
    if (after) return end({ outcome: isWaitingReason(after.reason) ? "waiting" : "flatline", ...after });
  }
}
