import { githubTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { GitHubClient } from "./client.ts";
import { GitHubError } from "./errors.ts";

const owner = "acme";
const name = "widgets";

describe("GitHubClient against the test GitHub", () => {
  test("reads an issue with its labels and comments", async ({ github }) => {
    await github.createRepository(owner, name);
    const token = github.createToken(owner);
    const issue = github.createIssue(owner, name, {
      title: "Add a widget",
      body: "We need widgets.",
      labels: ["smith", "feature"],
      comments: [{ body: "Blue ones, please.", author: "alice" }],
    });
    const client = new GitHubClient({ token, baseUrl: github.apiUrl });
    const got = await client.getIssue({ owner, name, number: issue.number });
    expect(got).toMatchObject({
      id: issue.id,
      number: issue.number,
      title: "Add a widget",
      body: "We need widgets.",
      state: "OPEN",
      labels: ["smith", "feature"],
      commentCount: 1,
    });
    expect(got.comments.map((c) => [c.author, c.body])).toEqual([["alice", "Blue ones, please."]]);
    expect(got.url).toBe(`${github.url}/${owner}/${name}/issues/${issue.number}`);
    expect(client.rateLimit?.remaining).toBe(4999);
  });

  test("lists the open issues carrying a label, across pages", async ({ github }) => {
    await github.createRepository(owner, name);
    const token = github.createToken(owner);
    for (let i = 0; i < 5; i++)
      github.createIssue(owner, name, { title: `t${i}`, labels: i % 2 ? ["other"] : ["Smith"] });
    const client = new GitHubClient({ token, baseUrl: github.apiUrl });
    const found = await client.issuesWithLabel({ owner, name }, "smith");
    expect(found.map((i) => i.title)).toEqual(["t0", "t2", "t4"]);
    expect((await client.issuesWithLabel({ owner, name }, "smith", 2)).map((i) => i.title)).toEqual(["t0", "t2"]);
  });

  test("finds no pull request, creates one, then finds it; GitHub refuses a second for the head", async ({
    github,
  }) => {
    await github.createRepository(owner, name);
    const token = github.createToken(owner);
    const client = new GitHubClient({ token, baseUrl: github.apiUrl });
    // The head branch must exist, as on GitHub.
    await pushBranch(github.repoPath(owner, name), "smith/one");
    expect(await client.findPullRequest({ owner, name }, "smith/one")).toBeUndefined();
    const repo = await client.getRepository({ owner, name });
    expect(repo).toMatchObject({ defaultBranch: "main", viewerPermission: "ADMIN" });
    const pr = await client.createPullRequest({
      repositoryId: repo.id,
      base: "main",
      head: "smith/one",
      title: "Widgets",
      body: "first",
    });
    expect(pr).toMatchObject({ state: "OPEN", headRefName: "smith/one", baseRefName: "main" });
    expect((await client.findPullRequest({ owner, name }, "smith/one"))?.id).toBe(pr.id);
    const second = client.createPullRequest({
      repositoryId: repo.id,
      base: "main",
      head: "smith/one",
      title: "x",
      body: "",
    });
    await expect(second).rejects.toMatchObject({ code: "graphql", message: expect.stringContaining("already exists") });
    const updated = await client.updatePullRequest({ pullRequestId: pr.id, body: "second" });
    expect(updated.number).toBe(pr.number);
    expect(github.pullRequest(owner, name, pr.number).body).toBe("second");
    await client.enableAutoMerge(pr.id);
    expect(github.pullRequest(owner, name, pr.number).autoMerge).toBe("SQUASH");
  });

  test("comments on an issue", async ({ github }) => {
    await github.createRepository(owner, name);
    const token = github.createToken(owner);
    const issue = github.createIssue(owner, name, { title: "x" });
    const client = new GitHubClient({ token, baseUrl: github.apiUrl });
    const c = await client.addComment(issue.id, "Opened a pull request");
    expect(c.url).toContain(`/issues/${issue.number}#issuecomment-`);
    expect(github.issue(owner, name, issue.number).comments.map((x) => [x.author, x.body])).toEqual([
      [owner, "Opened a pull request"],
    ]);
  });

  test("reads reviews, review threads and the head commit's check runs", async ({ github }) => {
    await github.createRepository(owner, name);
    const token = github.createToken(owner);
    const client = new GitHubClient({ token, baseUrl: github.apiUrl });
    const sha = await pushBranch(github.repoPath(owner, name), "smith/two");
    const repo = await client.getRepository({ owner, name });
    const pr = await client.createPullRequest({
      repositoryId: repo.id,
      base: "main",
      head: "smith/two",
      title: "t",
      body: "",
    });
    github.submitReview(owner, name, pr.number, {
      state: "CHANGES_REQUESTED",
      body: "Rename the function.",
      author: "bob",
      threads: [{ path: "src/a.ts", line: 3, comments: [{ id: "c1", body: "not this name", author: "bob" }] }],
    });
    await github.setCheckRuns(owner, name, pr.number, [
      { name: "test", status: "COMPLETED", conclusion: "FAILURE", title: "1 failed", text: "Error: expected 2\n at x" },
      { name: "lint", status: "COMPLETED", conclusion: "SUCCESS" },
    ]);
    const fb = await client.pullRequestFeedback({ owner, name }, pr.number);
    expect(fb.reviewDecision).toBe("CHANGES_REQUESTED");
    expect(fb.reviews).toMatchObject([{ state: "CHANGES_REQUESTED", body: "Rename the function.", author: "bob" }]);
    expect(fb.reviewThreads).toMatchObject([{ path: "src/a.ts", line: 3, comments: [{ body: "not this name" }] }]);
    expect(fb.headSha).toBe(sha);
    expect(fb.checkRuns.map((r) => [r.name, r.conclusion])).toEqual([
      ["test", "FAILURE"],
      ["lint", "SUCCESS"],
    ]);
  });

  test("reads a collaborator's permission", async ({ github }) => {
    await github.createRepository(owner, name);
    github.addCollaborator(owner, name, "writer", "WRITE");
    github.addCollaborator(owner, name, "reader", "READ");
    const client = new GitHubClient({ token: github.createToken(owner), baseUrl: github.apiUrl });
    expect(await client.collaboratorPermission({ owner, name }, "writer")).toBe("WRITE");
    expect(await client.collaboratorPermission({ owner, name }, "Reader")).toBe("READ");
    expect(await client.collaboratorPermission({ owner, name }, "stranger")).toBeUndefined();
  });

  test("a refused token is `unauthorized`; a missing repository is `not-found`", async ({ github }) => {
    await github.createRepository(owner, name);
    const bad = new GitHubClient({ token: "ghp_wrong", baseUrl: github.apiUrl });
    await expect(bad.getRepository({ owner, name })).rejects.toMatchObject({ code: "unauthorized", status: 401 });
    const good = new GitHubClient({ token: github.createToken("someone"), baseUrl: github.apiUrl });
    await expect(good.getRepository({ owner, name })).rejects.toMatchObject({ code: "not-found" });
    const err = await bad.getRepository({ owner, name }).catch((e: unknown) => e);
    expect(String((err as GitHubError).message)).not.toContain("ghp_wrong");
  });

  test("an exhausted rate limit is `rate-limited` with the reset time, and no call goes out until then", async ({
    github,
  }) => {
    await github.createRepository(owner, name);
    const client = new GitHubClient({ token: github.createToken(owner), baseUrl: github.apiUrl });
    const resetAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 600_000);
    github.setRateLimit({ remaining: 0, resetAt });
    const err = await client.getRepository({ owner, name }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitHubError);
    expect(err).toMatchObject({ code: "rate-limited", recoverable: true });
    expect((err as GitHubError).retryAt?.getTime()).toBe(resetAt.getTime());
    const calls = github.graphqlCalls.length;
    await expect(client.getRepository({ owner, name })).rejects.toMatchObject({ code: "rate-limited" });
    expect(github.graphqlCalls.length).toBe(calls);
  });

  test("a token function is asked per call (installation tokens expire)", async ({ github }) => {
    await github.createRepository(owner, name);
    const tokens = [github.createToken(owner), github.createToken(owner)];
    let asked = 0;
    const client = new GitHubClient({ token: async () => tokens[asked++ % 2] ?? "", baseUrl: github.apiUrl });
    await client.getRepository({ owner, name });
    await client.getRepository({ owner, name });
    expect(asked).toBe(2);
  });
});

async function pushBranch(bare: string, branch: string): Promise<string> {
  const { execFileSync } = await import("node:child_process");
  const sha = execFileSync("git", ["rev-parse", "refs/heads/main"], { cwd: bare, encoding: "utf8" }).trim();
  execFileSync("git", ["update-ref", `refs/heads/${branch}`, sha], { cwd: bare });
  return sha;
}
