import { parsePrd, questionFrom, storyProgress, validatePrd, type AgentAdapter, type Loop } from "@smith/core";
import { lstatSync, readFileSync, realpathSync } from "node:fs";
import { join, sep } from "node:path";
import { agentFailure, journalAgentEvent } from "./agentJournal.ts";
import { noteAgentResult } from "./agentStep.ts";
import { commitStory, pushBranch } from "./commit.ts";
import type { AttemptContext, Outcome } from "./context.ts";
import { buildDraftPrompt } from "./draftPrompt.ts";
import { withRetry } from "./retry.ts";
import type { Workspace } from "./workspace.ts";
import { writeWorkspaceFile } from "./workspaceFile.ts";

/** The PRD an agent drafts is a plan, not a book. */
const MAX_DRAFT_BYTES = 256 * 1024;

/**
 * The first phase of a loop made from a GitHub issue, when the work branch has no PRD yet: the
 * loop's agent drafts one from the issue (title, body, comments), Smith validates it, commits it
 * alone on the work branch (whatever else the agent changed is discarded) and pushes it, so a
 * later attempt starts from the same plan. The draft is an iteration: it counts against the
 * loop's limits and its usage against its budget. A draft that is missing or invalid, or an agent
 * that asks a question, makes the loop wait for a person (`prd-invalid` / `question`) with the
 * validation report.
 *
 * Returns undefined when the PRD is committed (the iterations go on), or how the attempt ends.
 */
export async function draftPrdFromIssue(
  ctx: AttemptContext,
  input: {
    loop: Loop;
    ws: Workspace;
    agent: AgentAdapter;
    env: Record<string, string>;
    /** Secret values the replica holds: a draft that contains one is never committed. */
    secrets: readonly string[];
  },
): Promise<Outcome | undefined> {
  const { loop, ws } = input;
  const prdPath = loop.spec.prd.path;
  const prdFile = join(ctx.workDir, prdPath);
  const issue = await withRetry(() => ctx.client.replica.sourceIssue.query({ loopId: ctx.loopId }), {
    signal: ctx.signal,
  });
  const iteration = loop.status.iteration + 1;
  const prompt = buildDraftPrompt({ issue, prdPath, gates: loop.spec.qualityGates });
  ctx.note("prompt", `iteration ${iteration}: draft the PRD from ${issue.ref} ${issue.title}`.slice(0, 500), {
    metadata: { storyId: "prd-draft", iteration, promptBytes: prompt.length, issue: issue.ref },
  });
  const startSha = await ws.git.headSha();
  const result = await input.agent.run({
    prompt,
    cwd: ctx.workDir,
    ...ctx.untrusted(ctx.workDir, input.env),
    timeoutMs: loop.spec.limits.agentTimeoutMs,
    signal: ctx.signal,
    storyId: "prd-draft",
    model: loop.spec.agent.model,
    args: loop.spec.agent.args,
    onEvent: (e) => journalAgentEvent(ctx.journal, loop.spec.agent.provider, e),
  });
  ctx.checkStop();
  noteAgentResult(ctx, result, { storyId: "prd-draft", provider: loop.spec.agent.provider });

  // Only the PRD is kept: read it, put the tree back where it was, write it alone.
  // The agent is untrusted: only a regular file inside the workspace counts (a link it made to a
  // file of the replica's would otherwise be read, and committed, with the replica's rights).
  const text = isWorkspaceFile(ctx.workDir, prdFile)
    ? readFileSync(prdFile).subarray(0, MAX_DRAFT_BYTES + 1)
    : undefined;
  await ws.git.discardChanges();
  const report = text === undefined ? undefined : validatePrd(text.toString("utf8"));
  const drafted = text !== undefined && text.length <= MAX_DRAFT_BYTES && report?.valid === true;
  await withRetry(
    () =>
      ctx.client.replica.recordIteration.mutate({
        loopId: ctx.loopId,
        iteration,
        progress: drafted ? storyProgress(parsePrd(text.toString("utf8"))) : undefined,
        usage: { inputTokens: result.inputTokens, outputTokens: result.outputTokens, usd: result.usd ?? 0 },
      }),
    { signal: ctx.signal },
  );

  const question = questionFrom(result.summary);
  if (question !== undefined && !drafted)
    return { outcome: "waiting", reason: "question", message: `the agent asked a question drafting the PRD`, question };
  const failure = agentFailure(result, loop.spec.limits.agentTimeoutMs);
  if (!drafted) {
    const why =
      text === undefined
        ? `the agent wrote no PRD at ${prdPath}${failure ? ` (${failure})` : ""}`
        : text.length > MAX_DRAFT_BYTES
          ? `the drafted PRD at ${prdPath} is over ${MAX_DRAFT_BYTES} bytes`
          : `the drafted PRD is not valid: ${(report?.errors ?? []).map((e) => `${e.code} at ${e.path}: ${e.message}`).join("; ")}`;
    ctx.note("prd", why.slice(0, 4000), {
      level: "error",
      metadata: { storyId: "prd-draft", ...(report ? { report } : {}) },
    });
    return {
      outcome: "waiting",
      reason: "prd-invalid",
      message: why.slice(0, 4000),
      question: `Smith could not draft a valid PRD from ${issue.ref}. Clarify the issue (or commit a PRD at ${prdPath} on the work branch) and answer to try again.`,
    };
  }

  writeWorkspaceFile(ctx.workDir, prdPath, text);
  const prd = parsePrd(text.toString("utf8"));
  const committed = await commitStory(ctx, ws, {
    message: `docs(prd): plan ${issue.ref} (${prd.stories.length} ${prd.stories.length === 1 ? "story" : "stories"})`,
    storyId: "prd-draft",
    startSha,
    policy: loop.spec.commit,
    secrets: input.secrets,
    changed: [prdPath],
  });
  if (!committed.ok) {
    await ws.git.discardChanges();
    return {
      outcome: "waiting",
      reason: "prd-invalid",
      message: `the drafted PRD was not committed: ${committed.failure}`.slice(0, 4000),
    };
  }
  await pushBranch(ctx, ws);
  ctx.note(
    "prd",
    `drafted from ${issue.ref}: ${prd.stories.length} stories (${prd.stories.map((s) => s.id).join(", ")}); gates: ${prd.qualityGates.join(" && ") || "none"}`.slice(
      0,
      2000,
    ),
    { metadata: { storyId: "prd-draft", sha: committed.sha, issue: issue.ref } },
  );
  return undefined;
}

/** A regular file (not a link) whose real path is inside the workspace. */
function isWorkspaceFile(workDir: string, file: string): boolean {
  try {
    if (!lstatSync(file).isFile()) return false;
    return realpathSync(file).startsWith(realpathSync(workDir) + sep);
  } catch {
    return false;
  }
}
