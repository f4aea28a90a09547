// The source issue hears of a flatline whoever decided it: the reconciler after a replica killed
// at the last attempt, or an operator forcing the state. Each transition writes an outbox item
// in its own txn; every API process drains the outbox (two here), one comments.
import { ApiServer } from "@smith/api";
import { silentLogger } from "@smith/logger";
import { SmithStore } from "@smith/store";
import { etcdTest, GitHubServer } from "@smith/testing";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, onTestFinished } from "vitest";
import { claudeFake } from "./fakes.ts";
import { ADMIN_TOKEN, SIGNING_KEY, Stack, writeFakeAgent } from "./harness.ts";
import { pidAlive } from "./support.ts";

const OWNER = "acme";
const NAME = "app";

/** Unhandled rejections anywhere in this file's process fail it (the reverted watch made some). */
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);
beforeAll(() => void process.on("unhandledRejection", onRejection));
afterAll(() => {
  process.off("unhandledRejection", onRejection);
  expect(rejections).toEqual([]);
});

const test = etcdTest
  .extend("github", async ({ task: _task }, { onCleanup }) => {
    const github = await GitHubServer.start();
    onCleanup(() => github.close());
    await github.createRepository(OWNER, NAME, { files: { "README.md": "# app\n" } });
    return github;
  })
  .extend("stack", async ({ etcdEndpoint, prefix, tmpDir, github }, { onCleanup }) => {
    const apiToken = github.createToken("smith-bot", { permission: "WRITE" });
    const github_ = {
      apiUrl: github.apiUrl,
      token: async () => apiToken,
      loopTemplate: { agent: { provider: "claude" as const }, limits: { maxAttempts: 1 } },
    };
    const stack = await Stack.start(etcdEndpoint, prefix, tmpDir, {
      github: github_,
      githubOutbox: { intervalMs: 300 },
    });
    await stack.admin.credentials.create.mutate({
      name: "acme-bot",
      type: "github-token",
      value: github.createToken("smith-bot", { repositories: new Set([`${OWNER}/${NAME}`]), permission: "WRITE" }),
      scope: { host: github.host, owner: OWNER },
    });
    // A second API process over the same etcd, draining the same outbox.
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    const second = new ApiServer({
      store,
      signingKey: SIGNING_KEY,
      adminToken: ADMIN_TOKEN,
      credentialsKeyring: stack.credentialsKeyring,
      logger: silentLogger,
      defaultMetrics: false,
      allowLocalRepos: true,
      github: github_,
      githubOutbox: { intervalMs: 300 },
    });
    await second.start();
    onCleanup(async () => {
      await second.stop(100);
      store.close();
      await stack.close();
    });
    return stack;
  });

async function issueLoop(
  stack: Stack,
  github: GitHubServer,
  title: string,
): Promise<{ loopId: string; issue: number }> {
  const issue = github.createIssue(OWNER, NAME, { title, body: "Please do it.", labels: ["smith"] });
  const made = await stack.admin.github.createFromIssue.mutate({ ref: `${OWNER}/${NAME}#${issue.number}` });
  if (!("loopId" in made)) throw new Error(`no loop: ${JSON.stringify(made)}`);
  return { loopId: made.loopId, issue: issue.number };
}

const flatlineComments = (github: GitHubServer, issue: number) =>
  github.issue(OWNER, NAME, issue).comments.filter((c) => c.body.includes("stopped without finishing"));

describe("flatline comments on the source issue, whoever ended the loop", () => {
  test("a replica killed at the last attempt: the reconciler flatlines the loop and the issue gets exactly one comment", async ({
    stack,
    github,
    tmpDir,
  }) => {
    const pidFile = join(tmpDir, "agent.pid");
    // The agent hangs while drafting the PRD: a window to kill the replica. The interval keeps it
    // alive: a promise that never settles does not, and Node would exit 0 at once (the replica then
    // finalized the loop as prd-invalid whenever it was quicker than the kill).
    const agent = claudeFake(`fs.writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
await new Promise(() => setInterval(() => {}, 60_000));`);
    // A safety net: the scheduler's executor ends the agent (asserted below); a failed test must not leave it running.
    let agentPid = 0;
    onTestFinished(() => {
      if (agentPid <= 0) return;
      try {
        process.kill(-agentPid, "SIGKILL");
      } catch {
        // Already gone.
      }
    });
    // The harness's start grace (15 s): on a busy machine a replica can need more than 2 s to take
    // its lock, and the reconciler would stop it before the kill this test is about.
    stack.startScheduler({ SMITH_CLAUDE_BIN: writeFakeAgent(tmpDir, "claude", agent) });
    const { loopId, issue } = await issueLoop(stack, github, "Lost replica");
    await stack.waitUntil(
      async () => (await stack.replicas()).some((r) => r.status.phase === "running") && existsPid(pidFile),
      60_000,
      "the agent to start",
    );
    agentPid = Number(readFileSync(pidFile, "utf8"));
    const [replica] = (await stack.replicas()).filter((r) => r.status.phase === "running");
    if (!replica) throw new Error("no running replica");
    const runDir = join(tmpDir, "state", "replicas", replica.handle.id);
    const record = JSON.parse(readFileSync(join(runDir, "record.json"), "utf8")) as { pid: number };
    // The agent leads a session of its own (so that a timeout kills its whole tree), which this
    // signal to the replica's group does not reach; the replica recorded the agent's group.
    expect(readdirSync(join(runDir, "children"))).toEqual([String(agentPid)]);
    process.kill(-record.pid, "SIGKILL");
    // The scheduler's reconcile pass (every 500 ms here) finds the replica gone and ends the agent.
    await stack.waitUntil(async () => !pidAlive(agentPid), 10_000, "the killed replica's agent to be ended");
    expect(existsSync(join(runDir, "children"))).toBe(false);

    const loop = await stack.waitFor(loopId, ["flatline", "synced", "waiting", "cancelled"], 60_000);
    expect(loop.status).toMatchObject({ state: "flatline", reason: "replica-lost", attempt: 1 });
    await stack.waitUntil(async () => flatlineComments(github, issue).length > 0, 20_000, "the flatline comment");
    // Both API processes keep draining: still one comment, and the outbox is empty.
    await new Promise((r) => setTimeout(r, 1_500));
    const comments = flatlineComments(github, issue);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain(`Smith's loop \`${loopId}\` stopped without finishing: **replica-lost**`);
    expect(comments[0]?.body).toMatch(/replica lost on attempt 1/);
    expect(await stack.store.outbox.list()).toEqual([]);
  });

  test("an operator forcing a loop to flatline: one comment; a cancel is no flatline and comments nothing", async ({
    stack,
    github,
  }) => {
    // No scheduler: the loops stay unresolved until the operator acts.
    const forced = await issueLoop(stack, github, "Forced");
    const cancelled = await issueLoop(stack, github, "Cancelled");
    await stack.admin.loops.override.mutate({ id: forced.loopId, to: "flatline", reason: "not worth doing" });
    await stack.admin.loops.cancel.mutate({ id: cancelled.loopId, reason: "duplicate" });
    await stack.waitUntil(async () => flatlineComments(github, forced.issue).length > 0, 20_000, "the comment");
    await new Promise((r) => setTimeout(r, 1_500));
    const comments = flatlineComments(github, forced.issue);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain(`Smith's loop \`${forced.loopId}\` stopped without finishing`);
    expect(github.issue(OWNER, NAME, cancelled.issue).comments).toEqual([]);
    expect(await stack.store.outbox.list()).toEqual([]);
  });
});

function existsPid(file: string): boolean {
  try {
    return readFileSync(file, "utf8").length > 0;
  } catch {
    return false;
  }
}
