import type { AgentAdapter, AgentConfig, AgentResult, Loop, PrdStory } from "@smith/core";
import { agentSummary, journalAgentEvent } from "./agentJournal.ts";
import type { AttemptContext } from "./context.ts";
import { readNotes, type LoadedPrd } from "./prd.ts";
import { buildPrompt } from "./prompt.ts";
import { withRetry } from "./retry.ts";

/**
 * The agent half of an iteration: fetch what changed at the API (steering, the latest handoff),
 * build the prompt, acknowledge the steering it carries, run the agent, journal its result.
 */
export async function runAgentStep(
  ctx: AttemptContext,
  input: {
    loop: Loop;
    agent: AgentAdapter;
    /** The agent's configuration: the loop's own, or the fallback in use. */
    config: AgentConfig;
    env: Record<string, string>;
    loaded: LoadedPrd;
    story: PrdStory;
    iteration: number;
    /** Why the previous iteration on this story failed, if it did. */
    lastFailure: string | undefined;
  },
): Promise<AgentResult> {
  const { client, loopId } = ctx;
  const { loop, loaded, story, iteration } = input;
  const spec = await withRetry(() => client.replica.getSpec.query({ loopId }), { signal: ctx.signal });
  const steering = spec.steering;
  const prompt = buildPrompt({
    prd: loaded.prd,
    story,
    gates: loaded.gates,
    prdPath: loaded.prdPath,
    progressNotes: readNotes(loaded),
    handoff: spec.latestHandoff,
    steering,
    iteration,
    attempt: ctx.attempt,
    lastFailure: input.lastFailure,
  });
  ctx.note(
    "prompt",
    `iteration ${iteration}: ${story.id} ${story.title}${steering.length ? ` (+${steering.length} steering message${steering.length > 1 ? "s" : ""})` : ""}`,
    { metadata: { storyId: story.id, iteration, promptBytes: prompt.length } },
  );
  if (steering.length) {
    await withRetry(() => client.replica.ackSteering.mutate({ loopId, ids: steering.map((s) => s.id) }), {
      signal: ctx.signal,
    });
    for (const s of steering) ctx.note("steer", `delivered to iteration ${iteration}: ${s.message.slice(0, 500)}`);
  }

  const result = await input.agent.run({
    prompt,
    cwd: ctx.workDir,
    ...ctx.untrusted(ctx.workDir, input.env),
    timeoutMs: loop.spec.limits.agentTimeoutMs,
    signal: ctx.signal,
    storyId: story.id,
    model: input.config.model,
    args: input.config.args,
    onEvent: (e) => journalAgentEvent(ctx.journal, input.config.provider, e),
  });
  ctx.checkStop();
  noteAgentResult(ctx, result, { storyId: story.id, provider: input.config.provider });
  return result;
}

/** The journal entry of one agent run: its summary, exit, duration and usage (and a usage limit it hit). */
export function noteAgentResult(
  ctx: AttemptContext,
  result: AgentResult,
  about: { storyId: string; provider: string },
): void {
  ctx.note("agent", agentSummary(result), {
    level: result.exitCode === 0 && !result.isError ? "info" : "warn",
    exitCode: result.exitCode ?? undefined,
    durationMs: result.durationMs,
    metadata: {
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
      usd: result.usd,
      timedOut: result.timedOut,
      storyId: about.storyId,
      provider: about.provider,
      ...(result.limit
        ? { limit: result.limit.kind, ...(result.limit.resetAt ? { resetAt: result.limit.resetAt.toISOString() } : {}) }
        : {}),
    },
  });
}
