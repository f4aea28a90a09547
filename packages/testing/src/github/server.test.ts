import { createAppAuth } from "@octokit/auth-app";
import { request } from "@octokit/request";
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect } from "vitest";
import { githubTest as test } from "../fixtures.ts";

const run = promisify(execFile);
const owner = "acme";
const name = "widgets";

/** git with no credential helper or prompt from the machine: only what the URL carries. */
function git(cwd: string, ...args: string[]) {
  return run("git", ["-c", "credential.helper=", "-c", "user.name=t", "-c", "user.email=t@example.test", ...args], {
    cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "", SSH_ASKPASS: "" },
  });
}

function withToken(url: string, token: string): string {
  const u = new URL(url);
  u.username = "x-access-token";
  u.password = token;
  return u.toString();
}

async function graphql(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/api/graphql`, {
    method: "POST",
    headers: { authorization: `bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as { data?: unknown; errors?: { message: string; type?: string }[] },
  };
}

describe("test GitHub server", () => {
  test("git over HTTP: a token with write access clones and pushes; none, or a wrong one, gets 401", async ({
    github,
    tmpDir,
  }) => {
    await github.createRepository(owner, name, { files: { "a.txt": "a\n" } });
    const writer = github.createToken("writer");
    const reader = github.createToken("reader");
    github.addCollaborator(owner, name, "writer", "WRITE");
    github.addCollaborator(owner, name, "reader", "READ");
    const url = github.cloneUrl(owner, name);

    await expect(git(tmpDir, "clone", "--quiet", url, "anon")).rejects.toThrow(
      /401|Authentication failed|could not read Username/,
    );
    await expect(git(tmpDir, "clone", "--quiet", withToken(url, "ghp_wrong"), "wrong")).rejects.toThrow();

    await git(tmpDir, "clone", "--quiet", withToken(url, writer), "w");
    const w = join(tmpDir, "w");
    await writeFile(join(w, "b.txt"), "b\n");
    await git(w, "add", "b.txt");
    await git(w, "commit", "--quiet", "-m", "b");
    await git(w, "push", "--quiet", "origin", "HEAD:refs/heads/feature");
    const { stdout } = await run("git", ["log", "--format=%s", "feature"], { cwd: github.repoPath(owner, name) });
    expect(stdout.split("\n")[0]).toBe("b");

    // Read access clones but may not push.
    await git(tmpDir, "clone", "--quiet", withToken(url, reader), "r");
    const r = join(tmpDir, "r");
    await writeFile(join(r, "c.txt"), "c\n");
    await git(r, "add", "c.txt");
    await git(r, "commit", "--quiet", "-m", "c");
    await expect(git(r, "push", "--quiet", "origin", "HEAD:refs/heads/other")).rejects.toThrow();
    await expect(
      run("git", ["rev-parse", "--verify", "--quiet", "refs/heads/other"], { cwd: github.repoPath(owner, name) }),
    ).rejects.toThrow();
  });

  test("a document with a field GitHub's schema lacks fails validation and runs nothing", async ({ github }) => {
    await github.createRepository(owner, name);
    const token = github.createToken(owner);
    const ok = await graphql(
      github.url,
      token,
      "query($o: String!, $n: String!) { repository(owner: $o, name: $n) { id viewerPermission } }",
      { o: owner, n: name },
    );
    expect(ok.body.errors).toBeUndefined();
    expect(ok.headers.get("x-ratelimit-remaining")).toBe("4999");
    const typo = await graphql(
      github.url,
      token,
      "query($o: String!, $n: String!) { repository(owner: $o, name: $n) { id viewerPermision } }",
      { o: owner, n: name },
    );
    expect(typo.body.data).toBeUndefined();
    expect(typo.body.errors?.[0]?.message).toMatch(/Cannot query field "viewerPermision" on type "Repository"/);
    const wrongInput = await graphql(
      github.url,
      token,
      "mutation($i: CreatePullRequestInput!) { createPullRequest(input: $i) { pullRequest { id } } }",
      { i: { repositoryId: "x", base: "main", headRefName: "h", title: "t" } },
    );
    expect(wrongInput.body.errors?.[0]?.message).toMatch(/baseRefName|base/);
    expect(github.pullRequests(owner, name)).toEqual([]);
  });

  test("no token is 401; a missing repository is NOT_FOUND like GitHub's", async ({ github }) => {
    const res = await fetch(`${github.url}/api/graphql`, { method: "POST", body: "{}" });
    expect(res.status).toBe(401);
    const missing = await graphql(
      github.url,
      github.createToken("x"),
      'query { repository(owner: "no", name: "pe") { id } }',
    );
    expect(missing.body.errors?.[0]).toMatchObject({ type: "NOT_FOUND" });
  });

  test("GitHub App: @octokit/auth-app mints an installation token scoped to the repository, and it clones", async ({
    github,
    tmpDir,
  }) => {
    await github.createRepository(owner, name);
    await github.createRepository(owner, "secret");
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    github.addApp({
      appId: 4242,
      privateKeyPem: pem,
      installations: [{ id: 77, account: owner, repositories: [`${owner}/${name}`] }],
    });
    const appAuth = createAppAuth({
      appId: 4242,
      privateKey: pem,
      request: request.defaults({ baseUrl: github.apiUrl }),
    });
    const installation = await appAuth({ type: "installation", installationId: 77, repositoryNames: [name] });
    expect(installation.token).toMatch(/^ghs_/);
    await git(tmpDir, "clone", "--quiet", withToken(github.cloneUrl(owner, name), installation.token), "ok");
    await expect(
      git(tmpDir, "clone", "--quiet", withToken(github.cloneUrl(owner, "secret"), installation.token), "no"),
    ).rejects.toThrow();
    // A JWT signed by another key is refused.
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .privateKey.export({ type: "pkcs1", format: "pem" })
      .toString();
    const forged = createAppAuth({
      appId: 4242,
      privateKey: other,
      request: request.defaults({ baseUrl: github.apiUrl }),
    });
    await expect(forged({ type: "installation", installationId: 77 })).rejects.toMatchObject({ status: 401 });
  });

  test("webhooks are signed with X-Hub-Signature-256 over the exact body", async ({ github }) => {
    const { createServer } = await import("node:http");
    const { createHmac } = await import("node:crypto");
    const got: { headers: Record<string, unknown>; body: string }[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(202).end("ok");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (receiver.address() as { port: number }).port;
      await github.createRepository(owner, name);
      const issue = github.createIssue(owner, name, { title: "t", labels: ["smith"] });
      const delivery = await github.sendWebhook({
        url: `http://127.0.0.1:${port}/hook`,
        secret: "s3cret",
        event: "issues",
        payload: github.issuesPayload(owner, name, issue.number, "labeled", "smith"),
      });
      expect(delivery.status).toBe(202);
      const [first] = got;
      expect(first?.headers["x-github-event"]).toBe("issues");
      expect(first?.headers["x-github-delivery"]).toBe(delivery.deliveryId);
      const expected = `sha256=${createHmac("sha256", "s3cret")
        .update(first?.body ?? "")
        .digest("hex")}`;
      expect(first?.headers["x-hub-signature-256"]).toBe(expected);
      expect(JSON.parse(first?.body ?? "{}")).toMatchObject({
        action: "labeled",
        issue: { number: issue.number },
        label: { name: "smith" },
      });
    } finally {
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });
});
