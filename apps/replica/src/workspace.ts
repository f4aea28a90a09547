import { classifyRepoUrl, gitProtocolOf, isSmithError, workBranchOf, type Loop } from "@smith/core";
import { Git } from "@smith/git";
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { AttemptContext, Outcome } from "./context.ts";
import type { GitAskpass } from "./gitAuth.ts";

export interface Workspace {
  git: Git;
  /** The work branch (`smith/<loop>` unless the spec names one). */
  branch: string;
  /** The remote-tracking base, e.g. `origin/main`. */
  base: string;
  /** True when an earlier attempt had pushed the work branch and this one continues it. */
  resumed: boolean;
}

/** A fresh clone in the work directory, on the work branch: resumed when an earlier attempt pushed it. */
export async function prepareWorkspace(
  ctx: AttemptContext,
  loop: Loop,
  env: Record<string, string>,
  askpass?: GitAskpass,
): Promise<Workspace | Outcome> {
  // Git may use only the transport of the loop's own remote (none at all for a URL the door
  // refuses now: a loop stored before the check).
  const repo = classifyRepoUrl(loop.spec.repo.url);
  const git = new Git({
    cwd: ctx.workDir,
    env,
    allowProtocols: "kind" in repo ? [gitProtocolOf(repo.kind)] : [],
    ...(askpass ? { auth: askpass, authEnv: askpass.env() } : {}),
  });
  const branch = workBranchOf(loop);
  const base = `origin/${loop.spec.repo.baseBranch}`;
  rmSync(ctx.workDir, { recursive: true, force: true });
  mkdirSync(dirname(ctx.workDir), { recursive: true });
  const start = performance.now();
  try {
    await git.clone(loop.spec.repo.url);
  } catch (err) {
    // Not found, authentication failed, a transport git may not use: the next attempt would fail
    // the same way, so the loop ends now with git's own words instead of burning its attempts.
    if (!isSmithError(err) || typeof err.details.permanent !== "string") throw err;
    const message = "problem" in repo ? `spec.repo.url ${repo.problem}` : err.message;
    ctx.note("workspace", `cannot clone (${err.details.permanent}): ${message}`, {
      level: "error",
      command: "git clone",
      exitCode: typeof err.details.exitCode === "number" ? err.details.exitCode : undefined,
      metadata: { permanent: err.details.permanent },
    });
    return { outcome: "flatline", reason: "clone-failed", message };
  }
  const resumed = await git.remoteBranchExists(branch);
  if (resumed) {
    await git.fetch(branch);
    await git.checkoutNew(branch, `origin/${branch}`);
  } else {
    await git.checkoutNew(branch, base);
  }
  const commitsBefore = resumed ? await git.subjects(base) : [];
  ctx.note(
    "workspace",
    resumed
      ? `resumed branch ${branch} (${commitsBefore.length} commits ahead of ${loop.spec.repo.baseBranch})`
      : `created branch ${branch} from ${loop.spec.repo.baseBranch}`,
    { durationMs: Math.round(performance.now() - start), metadata: { branch, resumed } },
  );
  return { git, branch, base, resumed };
}
