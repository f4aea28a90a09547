import { GitHubServer, etcdTest } from "@smith/testing";
import { execFileSync } from "node:child_process";
import { describe, expect } from "vitest";
import { loopInput, runLoop, startTestApi, type TestApi } from "../testSupport.ts";

const owner = "acme";
const name = "widgets";

const test = etcdTest
  .extend("github", async ({ task: _task }, { onCleanup }) => {
    const github = await GitHubServer.start();
    onCleanup(() => github.close());
    await github.createRepository(owner, name);
    return github;
  })
  .extend("api", async ({ etcdEndpoint, prefix, github }, { onCleanup }) => {
    const token = github.createToken("smith-bot", { permission: "WRITE" });
    const api = await startTestApi(etcdEndpoint, prefix, {
      github: { apiUrl: github.apiUrl, token: async () => token },
    });
    onCleanup(() => api.close());
    return api;
  });

const report = (sha: string) => ({
  stories: [
    { id: "US-001", title: "One", commit: sha, gates: ["npm test"] },
    { id: "US-002", title: "Two", gates: [] },
  ],
  remaining: ["US-002: Two"],
  decisions: ["US-001: kept it small"],
  uncertain: [],
  diffStat: " a.txt | 1 +\n 1 file changed",
  largeFiles: [{ path: "big.ts", lines: 320 }],
});

/** A loop on the test GitHub's repository, from issue #1, running on its first attempt with the lock. */
async function runningLoop(api: TestApi, github: GitHubServer, autoMerge = false) {
  const issue = github.createIssue(owner, name, { title: "Widgets", labels: ["smith"] });
  const { loop } = await api.client(api.tokens.operator).loops.create.mutate(
    loopInput({
      spec: {
        ...loopInput().spec,
        title: "Widgets",
        repo: { url: github.cloneUrl(owner, name) },
        ...(autoMerge ? { pullRequest: { autoMerge: true } } : {}),
      },
      source: { type: "github_issue", ref: `${owner}/${name}#${issue.number}` },
    }),
  );
  const attempt = await runLoop(api, loop.id);
  const r = api.client(api.replicaToken(loop.id, attempt));
  await r.replica.acquireLock.mutate({ loopId: loop.id });
  // The work branch as a replica would have pushed it.
  const bare = github.repoPath(owner, name);
  const sha = execFileSync("git", ["rev-parse", "refs/heads/main"], { cwd: bare, encoding: "utf8" }).trim();
  execFileSync("git", ["update-ref", `refs/heads/smith/${loop.id}`, sha], { cwd: bare });
  return { loopId: loop.id, attempt, r, issue, sha };
}

describe("replica.publishPullRequest", () => {
  test("opens one pull request whose body lists each story's commit, stores its URL, tells the issue once; a second call updates it", async ({
    api,
    github,
  }) => {
    const { loopId, r, issue, sha } = await runningLoop(api, github);
    const first = await r.replica.publishPullRequest.mutate({ loopId, report: report(sha) });
    expect(first).toMatchObject({ published: true, created: true, issueCommented: true, autoMerge: false });
    const [pr, ...more] = github.pullRequests(owner, name);
    expect(more).toEqual([]);
    expect(pr).toMatchObject({ headRefName: `smith/${loopId}`, baseRefName: "main", title: "Widgets", state: "OPEN" });
    expect(pr?.body).toContain(`| US-001 One | ${sha.slice(0, 12)} | npm test |`);
    expect(pr?.body).toContain(`Closes #${issue.number}`);
    expect(pr?.body).toContain("big.ts: 320 lines");
    expect(pr?.body).toContain(`smithctl describe loop ${loopId}`);
    const stored = await api.client(api.tokens.viewer).loops.get.query({ id: loopId });
    expect(stored.status.pullRequest).toMatchObject({
      number: pr?.number,
      url: `${github.url}/${owner}/${name}/pull/${pr?.number}`,
    });
    const comments = github.issue(owner, name, issue.number).comments;
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain(stored.status.pullRequest?.url ?? "missing");

    const second = await r.replica.publishPullRequest.mutate({
      loopId,
      report: { ...report(sha), decisions: ["changed"] },
    });
    expect(second).toMatchObject({ published: true, created: false, issueCommented: false });
    expect(github.pullRequests(owner, name)).toHaveLength(1);
    expect(github.pullRequests(owner, name)[0]?.body).toContain("- changed");
    expect(github.issue(owner, name, issue.number).comments).toHaveLength(1);
    const journal = await api.store.journal.list(loopId, { afterSeq: 0, limit: 100 });
    expect(journal.entries.map((e) => e.message).filter((m) => m.startsWith("pull request"))).toEqual([
      `pull request #${pr?.number} opened: ${stored.status.pullRequest?.url} (issue told)`,
      `pull request #${pr?.number} updated: ${stored.status.pullRequest?.url}`,
    ]);
  });

  test("auto-merge is turned on when the loop asks for it", async ({ api, github }) => {
    const { loopId, r, sha } = await runningLoop(api, github, true);
    expect(await r.replica.publishPullRequest.mutate({ loopId, report: report(sha) })).toMatchObject({
      autoMerge: true,
    });
    expect(github.pullRequests(owner, name)[0]?.autoMerge).toBe("SQUASH");
  });

  test("a non-GitHub remote gets no pull request, and a stale attempt is refused", async ({ api, github }) => {
    const { loop } = await api.client(api.tokens.operator).loops.create.mutate(loopInput());
    const attempt = await runLoop(api, loop.id);
    const r = api.client(api.replicaToken(loop.id, attempt));
    await r.replica.acquireLock.mutate({ loopId: loop.id });
    expect(await r.replica.publishPullRequest.mutate({ loopId: loop.id, report: report("a".repeat(40)) })).toEqual({
      published: false,
      why: "not a GitHub remote: the work branch is the result",
    });
    const stale = api.client(api.replicaToken(loop.id, attempt + 1));
    await expect(
      stale.replica.publishPullRequest.mutate({ loopId: loop.id, report: report("a".repeat(40)) }),
    ).rejects.toMatchObject({
      data: { code: "CONFLICT" },
    });
    expect(github.graphqlCalls).toEqual([]);
  });

  test("a flatline tells the source issue why", async ({ api, github }) => {
    const { loopId, r, issue } = await runningLoop(api, github);
    await r.replica.finalize.mutate({
      loopId,
      outcome: "flatline",
      reason: "max-iterations-reached",
      message: "50 iterations",
    });
    const [comment] = github.issue(owner, name, issue.number).comments;
    expect(comment?.body).toContain("max-iterations-reached");
    expect(comment?.body).toContain("50 iterations");
  });

  test("replica.sourceIssue gives the running attempt the issue's title, body and comments", async ({
    api,
    github,
  }) => {
    const { loopId, r, issue, attempt } = await runningLoop(api, github);
    github.addIssueComment(owner, name, issue.number, { author: "alice", body: "Blue ones." });
    expect(await r.replica.sourceIssue.query({ loopId })).toMatchObject({
      ref: `${owner}/${name}#${issue.number}`,
      title: "Widgets",
      labels: ["smith"],
      comments: [{ author: "alice", body: "Blue ones." }],
    });
    const stale = api.client(api.replicaToken(loopId, attempt + 1));
    await expect(stale.replica.sourceIssue.query({ loopId })).rejects.toMatchObject({ data: { code: "CONFLICT" } });
  });
});
