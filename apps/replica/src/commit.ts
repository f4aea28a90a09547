import { checkCommit, describeViolations, type CommitPolicy, type PrdStory, type StagedFile } from "@smith/core";
import type { AttemptContext } from "./context.ts";
import type { Workspace } from "./workspace.ts";

/** How much of each staged file is scanned for credential-looking text. */
const SCAN_BYTES = 1024 * 1024;

export type CommitResult = { ok: true; sha: string } | { ok: false; failure: string };

/**
 * Commits the story's change (with the PRD's done mark): stages everything (.gitignore keeps
 * ignored files out), checks the staged change against the commit-safety rules and, when it is
 * safe, commits with the repository's own hooks (unless the spec says `noVerify`). A refused
 * change leaves HEAD where the iteration started (the agent's own commits undone, its files still
 * in the working tree) and its reason goes to the agent in the next prompt. Nothing refused is
 * ever committed, so it can never be pushed.
 */
export async function commitStory(
  ctx: AttemptContext,
  ws: Workspace,
  input: {
    message: string;
    storyId: string;
    /** HEAD when the iteration started: the change is everything since. */
    startSha: string;
    policy: CommitPolicy;
    /** Secret values the replica holds; never to appear in a commit. */
    secrets: readonly string[];
    changed: readonly string[];
  },
): Promise<CommitResult> {
  const { git } = ws;
  const start = performance.now();
  await git.stageAll();
  const paths = await git.stagedPaths(input.startSha);
  const added = new Set(await git.stagedPaths(input.startSha, "A"));
  // Only new paths: a tracked file that matches an ignore pattern is the repository's own business.
  const ignored = new Set(await git.ignoredPaths([...added]));
  const files: StagedFile[] = [];
  for (const path of paths) {
    const blob = await git.stagedBlob(path, SCAN_BYTES);
    files.push({
      path,
      sizeBytes: blob.sizeBytes,
      text: blob.head.includes(0) ? undefined : blob.head.toString("utf8"),
      ignored: ignored.has(path),
    });
  }
  const violations = checkCommit(files, { maxFileBytes: input.policy.maxFileBytes, secrets: input.secrets });
  if (violations.length > 0) {
    await git.resetTo(input.startSha);
    ctx.note(
      "commit",
      `commit refused: ${violations.map((v) => `${v.path} (${v.rule})`).join(", ")}; nothing committed or pushed`,
      { level: "warn", metadata: { storyId: input.storyId, violations } },
    );
    return { ok: false, failure: describeViolations(violations) };
  }
  const r = await git.commitStaged(input.message, { noVerify: input.policy.noVerify });
  if (!r.ok) {
    await git.resetTo(input.startSha);
    ctx.note("commit", `the repository's commit hooks refused the commit:\n${r.output}`, {
      level: "warn",
      metadata: { storyId: input.storyId },
    });
    return { ok: false, failure: `The repository's git hooks refused the commit; nothing was committed:\n${r.output}` };
  }
  ctx.note("commit", `${input.message} (${r.sha.slice(0, 12)}, ${input.changed.length} files changed by the agent)`, {
    durationMs: Math.round(performance.now() - start),
    metadata: { sha: r.sha, storyId: input.storyId, files: input.changed.slice(0, 50) },
  });
  return { ok: true, sha: r.sha };
}

/** Pushes the work branch (fast-forward only). */
export async function pushBranch(ctx: AttemptContext, ws: Workspace): Promise<void> {
  const start = performance.now();
  await ws.git.push(ws.branch);
  ctx.note("push", `pushed ${ws.branch}`, {
    command: `git push origin HEAD:${ws.branch}`,
    exitCode: 0,
    durationMs: Math.round(performance.now() - start),
  });
}

/** The pseudo-story of an iteration that repairs the final verification. */
export function finalStory(baseBranch: string, failure: { conflicts: readonly string[] }): PrdStory {
  return {
    id: "final-verification",
    title: `Integrate the latest ${baseBranch}`,
    description:
      failure.conflicts.length > 0
        ? `Every story is done, but ${baseBranch} moved and merging it conflicts. The merge is in progress in the working tree: resolve the conflict markers keeping both sides' intent.`
        : `Every story is done, but on the work branch integrated with the latest ${baseBranch} a quality gate fails. Make the gates pass again without undoing either side.`,
    acceptanceCriteria: [
      ...(failure.conflicts.length > 0 ? [`no conflict markers remain in ${failure.conflicts.join(", ")}`] : []),
      "every quality gate passes",
    ],
    status: "in_progress",
    dependsOn: [],
    extra: {},
    keyOrder: [],
  };
}

/** The heading a review round's steering message starts with (see the `reviewRequested` transition). */
export const REVIEW_FEEDBACK_PREFIX = "Review feedback (";

/**
 * The pseudo-story of a synced loop reopened by review feedback: its pull request got changes
 * requested or a failing check. The feedback is in the story itself, so that an iteration that
 * fails and tries again still has it after the steering message was delivered.
 */
export function reviewStory(round: number, feedback: readonly string[]): PrdStory {
  return {
    id: `review-${round}`,
    title: `Address the review of the pull request (round ${round})`,
    description: [
      "Every story is done and a pull request is open, but it got review feedback or a failing check.",
      "Change the code so that the feedback is addressed; keep what the stories built.",
      "",
      ...(feedback.length ? feedback : ["(The feedback was delivered to an earlier attempt: see the progress notes.)"]),
    ].join("\n"),
    acceptanceCriteria: ["the review feedback above is addressed", "every quality gate passes"],
    status: "in_progress",
    dependsOn: [],
    extra: {},
    keyOrder: [],
  };
}
