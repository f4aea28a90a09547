import type { Prd } from "@smith/core";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AttemptContext } from "./context.ts";
import { withRetry } from "./retry.ts";
import type { Workspace } from "./workspace.ts";

/** Files this long or longer are listed in the pull request body (advisory). */
const LARGE_FILE_LINES = 300;

/** The commit that finished each story: the last `feat(<story>): ...` on the work branch. */
async function storyCommits(ws: Workspace): Promise<Map<string, string>> {
  const r = await ws.git.run(["log", "--reverse", "--format=%H %s", `${ws.base}..HEAD`], { allowFailure: true });
  const commits = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^([0-9a-f]{40,64}) feat\(([^)]+)\):/.exec(line);
    if (m?.[1] && m[2]) commits.set(m[2], m[1]);
  }
  return commits;
}

async function largeFiles(ctx: AttemptContext, ws: Workspace): Promise<{ path: string; lines: number }[]> {
  const r = await ws.git.run(["diff", "--name-only", "--diff-filter=AM", `${ws.base}...HEAD`], { allowFailure: true });
  const found: { path: string; lines: number }[] = [];
  for (const path of r.stdout.split("\n").filter(Boolean).slice(0, 2000)) {
    const text = await readFile(join(ctx.workDir, path), "utf8").catch(() => "");
    const lines = text ? text.split("\n").length - (text.endsWith("\n") ? 1 : 0) : 0;
    if (lines >= LARGE_FILE_LINES) found.push({ path, lines });
  }
  return found.slice(0, 200);
}

/**
 * At synced: asks the API to open (or update) the work branch's pull request with this attempt's
 * report: each story with its commit and the gates it passed, decisions, uncertain points, the
 * diff stat and the long files. Returns the pull request URL, or undefined (not a GitHub remote,
 * or GitHub refused: the branch is pushed either way, and the journal says why).
 */
export async function publishPullRequest(
  ctx: AttemptContext,
  ws: Workspace,
  input: {
    prd: Prd;
    gates: readonly string[];
    decisions: readonly string[];
    uncertain: readonly string[];
    diffStat: string;
  },
): Promise<string | undefined> {
  const commits = await storyCommits(ws);
  const report = {
    stories: input.prd.stories.map((s) => {
      const commit = s.status === "done" ? commits.get(s.id) : undefined;
      return {
        id: s.id,
        title: s.title.slice(0, 500),
        ...(commit ? { commit } : {}),
        gates: commit ? [...input.gates] : [],
      };
    }),
    remaining: input.prd.stories.filter((s) => s.status !== "done").map((s) => `${s.id}: ${s.title}`.slice(0, 2000)),
    decisions: input.decisions.slice(-100).map((d) => d.slice(0, 2000)),
    uncertain: input.uncertain.slice(0, 100).map((d) => d.slice(0, 2000)),
    diffStat: input.diffStat.slice(-32 * 1024),
    largeFiles: await largeFiles(ctx, ws),
  };
  try {
    const result = await withRetry(() => ctx.client.replica.publishPullRequest.mutate({ loopId: ctx.loopId, report }), {
      signal: ctx.signal,
    });
    return result.published ? result.pullRequest.url : undefined;
  } catch (err) {
    ctx.note("handoff", `the pull request could not be opened: ${err instanceof Error ? err.message : String(err)}`, {
      level: "warn",
    });
    return undefined;
  }
}
