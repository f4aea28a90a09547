import type { PrdStory } from "@smith/core";
import type { AttemptContext } from "./context.ts";
import type { Workspace } from "./workspace.ts";

/** Commits the story's change (with the PRD's done mark) as `feat(<story>): <title>` and pushes the work branch. */
export async function commitAndPush(
  ctx: AttemptContext,
  ws: Workspace,
  story: PrdStory,
  changed: readonly string[],
): Promise<string> {
  const message = `feat(${story.id}): ${story.title}`;
  const commitStart = performance.now();
  const sha = await ws.git.commitAll(message);
  ctx.note("commit", `${message} (${sha.slice(0, 12)}, ${changed.length} files changed by the agent)`, {
    durationMs: Math.round(performance.now() - commitStart),
    metadata: { sha, storyId: story.id, files: changed.slice(0, 50) },
  });
  const pushStart = performance.now();
  await ws.git.push(ws.branch);
  ctx.note("push", `pushed ${ws.branch}`, {
    command: `git push origin HEAD:${ws.branch}`,
    exitCode: 0,
    durationMs: Math.round(performance.now() - pushStart),
  });
  return sha;
}
