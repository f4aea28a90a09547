import { classifyRepoUrl, gitProtocolOf, workBranchOf, type Loop } from "@smith/core";
import { Git } from "@smith/git";
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { AttemptContext } from "./context.ts";

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
): Promise<Workspace> {
  // Git may use only the transport of the loop's own remote (none at all for a URL the door
  // refuses now: a loop stored before the check).
  const repo = classifyRepoUrl(loop.spec.repo.url);
  const git = new Git({ cwd: ctx.workDir, env, allowProtocols: "kind" in repo ? [gitProtocolOf(repo.kind)] : [] });
  const branch = workBranchOf(loop);
  const base = `origin/${loop.spec.repo.baseBranch}`;
  rmSync(ctx.workDir, { recursive: true, force: true });
  mkdirSync(dirname(ctx.workDir), { recursive: true });
  const start = performance.now();
  await git.clone(loop.spec.repo.url);
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
