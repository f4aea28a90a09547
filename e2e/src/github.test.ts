// GitHub end to end: a labeled issue reaches the API as a signed webhook, becomes a loop, the
// replica drafts the PRD from the issue with the loop's agent, works the stories, and the loop
// ends with one pull request (whose body lists each story's commit) and a comment on the issue.
// A forged webhook and a replayed delivery make nothing; a replica killed in the middle of
// publishing is retried and still leaves one pull request and one comment.
import { etcdTest, GitHubServer } from "@smith/testing";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake } from "./fakes.ts";
import { ADMIN_TOKEN, Stack, writeFakeAgent } from "./harness.ts";

const SECRET = "e2e-webhook-secret-0123456789";
const OWNER = "acme";
const NAME = "app";

/**
 * The agent: asked to draft, it writes a two-story PRD built from the issue's title and comment
 * (and a stray file, which Smith must not commit); asked for a story, it does the work.
 */
const AGENT = agentScript();

/** The agent above; with `promptsDir`, it also keeps the prompt of each review round there. */
function agentScript(promptsDir?: string, evidenceDir?: string): string {
  return claudeFake(`
${promptsDir ? `if (story.startsWith("review-")) fs.writeFileSync(${JSON.stringify(promptsDir)} + "/" + story + ".txt", prompt);` : ""}
${evidenceDir ? `fs.writeFileSync(${JSON.stringify(evidenceDir)} + "/proc-" + story + "-" + process.pid, Buffer.concat([fs.readFileSync("/proc/" + process.pid + "/environ"), fs.readFileSync("/proc/" + process.pid + "/cmdline")]));` : ""}
if (prompt.startsWith("# Draft a PRD from a GitHub issue")) {
  const title = (/^Title: (.*)$/m.exec(prompt) || [])[1] || "?";
  const asked = (/--- comment by \\S+\\n(.*)/.exec(prompt) || [])[1] || "?";
  fs.mkdirSync(".agents/tasks", { recursive: true });
  fs.writeFileSync(".agents/tasks/prd.json", JSON.stringify({
    version: 1,
    project: title,
    qualityGates: ["test ! -e notes.txt"],
    stories: [
      { id: "US-001", title: title, status: "open", dependsOn: [], acceptanceCriteria: ["done-US-001.txt exists"] },
      { id: "US-002", title: asked, status: "open", dependsOn: ["US-001"], acceptanceCriteria: ["done-US-002.txt exists"] },
    ],
  }, null, 2));
  fs.writeFileSync("scratch.txt", "the agent's own notes\\n");
} else {
  fs.writeFileSync("done-" + story + ".txt", "done\\n");
}`);
}

const test = etcdTest
  .extend("github", async ({ task: _task }, { onCleanup }) => {
    const github = await GitHubServer.start();
    onCleanup(() => github.close());
    await github.createRepository(OWNER, NAME, { files: { "README.md": "# app\n" } });
    github.addCollaborator(OWNER, NAME, "maintainer", "WRITE");
    return github;
  })
  .extend("stack", async ({ etcdEndpoint, prefix, tmpDir, github }, { onCleanup }) => {
    const apiToken = github.createToken("smith-bot", { permission: "WRITE" });
    const stack = await Stack.start(etcdEndpoint, prefix, tmpDir, {
      github: {
        webhookSecret: SECRET,
        apiUrl: github.apiUrl,
        token: async () => apiToken,
        loopTemplate: { agent: { provider: "claude" } },
      },
    });
    onCleanup(() => stack.close());
    // The replica's git token, from the credentials store (matched by the repository's owner).
    const gitToken = github.createToken("smith-bot", {
      repositories: new Set([`${OWNER}/${NAME}`]),
      permission: "WRITE",
    });
    await stack.admin.credentials.create.mutate({
      name: "acme-bot",
      type: "github-token",
      value: gitToken,
      scope: { host: github.host, owner: OWNER },
    });
    return stack;
  });

function branchSubjects(github: GitHubServer, branch: string): string[] {
  const out = execFileSync(
    "git",
    ["--git-dir", github.repoPath(OWNER, NAME), "log", "--reverse", "--format=%s", `main..${branch}`],
    { encoding: "utf8" },
  );
  return out.split("\n").filter(Boolean);
}

function branchFiles(github: GitHubServer, branch: string): string[] {
  const out = execFileSync("git", ["--git-dir", github.repoPath(OWNER, NAME), "ls-tree", "-r", "--name-only", branch], {
    encoding: "utf8",
  });
  return out.split("\n").filter(Boolean);
}

describe("GitHub end to end", () => {
  test("labeled issue -> webhook -> loop -> PRD drafted from the issue -> stories -> one PR listing each commit -> issue comment; forged and replayed deliveries make nothing", async ({
    stack,
    github,
    tmpDir,
  }) => {
    const hook = `${stack.url}/webhooks/github`;
    const issue = github.createIssue(OWNER, NAME, {
      title: "Export widgets",
      body: "Widgets should be exportable.",
      labels: ["smith"],
      comments: [{ author: "maintainer", body: "Also add an export button" }],
    });
    const payload = github.issuesPayload(OWNER, NAME, issue.number, "labeled", "smith");

    const forged = await github.sendWebhook({ url: hook, secret: "not-the-secret", event: "issues", payload });
    expect(forged.status).toBe(401);
    expect((await stack.admin.loops.list.query({})).items).toEqual([]);

    const delivered = await github.sendWebhook({ url: hook, secret: SECRET, event: "issues", payload });
    expect(delivered.status).toBe(202);
    const replayed = await github.sendWebhook({
      url: hook,
      secret: SECRET,
      event: "issues",
      payload,
      deliveryId: delivered.deliveryId,
    });
    expect(replayed.status).toBeLessThan(300);
    const [created, ...others] = (await stack.admin.loops.list.query({})).items;
    expect(others).toEqual([]);
    if (!created) throw new Error("no loop");
    expect(created.spec.prd).toMatchObject({ kind: "issue", path: ".agents/tasks/prd.json" });

    stack.startScheduler({ SMITH_CLAUDE_BIN: writeFakeAgent(tmpDir, "claude", AGENT) });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
    expect(loop.status, loop.status.message).toMatchObject({ state: "synced", attempt: 1 });

    // The plan is the first commit, alone; the stray file never reached the remote.
    const branch = `smith/${loop.id}`;
    const subjects = branchSubjects(github, branch);
    expect(subjects).toEqual([
      `docs(prd): plan ${OWNER}/${NAME}#${issue.number} (2 stories)`,
      "feat(US-001): Export widgets",
      "feat(US-002): Also add an export button",
    ]);
    expect(branchFiles(github, branch)).not.toContain("scratch.txt");
    const prd = JSON.parse(
      execFileSync("git", ["--git-dir", github.repoPath(OWNER, NAME), "show", `${branch}:.agents/tasks/prd.json`], {
        encoding: "utf8",
      }),
    ) as { stories: { id: string; status: string }[] };
    expect(prd.stories.map((s) => [s.id, s.status])).toEqual([
      ["US-001", "done"],
      ["US-002", "done"],
    ]);

    // The draft was journaled as an iteration of its own, with the issue it came from.
    const journal = await stack.journal(loop.id);
    expect(
      journal.some((e) => e.phase === "prd" && e.message.startsWith(`drafted from ${OWNER}/${NAME}#1: 2 stories`)),
    ).toBe(true);
    expect(loop.status.iteration).toBe(3);

    // One pull request, whose body names each story's commit; the issue links to it.
    const prs = github.pullRequests(OWNER, NAME);
    expect(prs).toHaveLength(1);
    const pr = prs[0];
    if (!pr) throw new Error("no PR");
    expect(pr.headRefName).toBe(branch);
    const shas = execFileSync(
      "git",
      ["--git-dir", github.repoPath(OWNER, NAME), "log", "--reverse", "--format=%H", `main..${branch}`],
      { encoding: "utf8" },
    )
      .split("\n")
      .filter(Boolean);
    for (const sha of shas.slice(1)) expect(pr.body).toContain(sha.slice(0, 7));
    const url = loop.status.pullRequest?.url ?? "";
    expect(url).toMatch(new RegExp(`/${OWNER}/${NAME}/pull/${pr.number}$`));
    const comments = github.issue(OWNER, NAME, issue.number).comments.filter((c) => c.body.includes(url));
    expect(comments).toHaveLength(1);
  });

  test("kill -9 the replica while the API publishes its pull request: the retry opens no second PR and comments once", async ({
    stack,
    github,
    tmpDir,
  }) => {
    const issue = github.createIssue(OWNER, NAME, {
      title: "Export widgets",
      body: "Widgets should be exportable.",
      labels: ["smith"],
      comments: [{ author: "maintainer", body: "Also add an export button" }],
    });
    const delivered = await github.sendWebhook({
      url: `${stack.url}/webhooks/github`,
      secret: SECRET,
      event: "issues",
      payload: github.issuesPayload(OWNER, NAME, issue.number, "labeled", "smith"),
    });
    expect(delivered.status).toBe(202);
    const [created] = (await stack.admin.loops.list.query({})).items;
    if (!created) throw new Error("no loop");

    // The PR is opened, then the issue comment is held: the replica is waiting on the API.
    const held = github.hold("SmithAddComment");
    stack.startScheduler({ SMITH_CLAUDE_BIN: writeFakeAgent(tmpDir, "claude", AGENT) });
    await held.arrived;
    expect(github.pullRequests(OWNER, NAME)).toHaveLength(1);
    const [replica] = (await stack.replicas()).filter((r) => r.status.phase === "running");
    if (!replica) throw new Error("no running replica");
    const record = JSON.parse(
      readFileSync(join(tmpDir, "state", "replicas", replica.handle.id, "record.json"), "utf8"),
    ) as { pid: number };
    process.kill(-record.pid, "SIGKILL");
    held.release();

    const loop = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
    expect(loop.status, loop.status.message).toMatchObject({ state: "synced", attempt: 2 });
    const prs = github.pullRequests(OWNER, NAME);
    expect(prs).toHaveLength(1);
    const url = loop.status.pullRequest?.url ?? "";
    expect(url).toMatch(new RegExp(`/${OWNER}/${NAME}/pull/${prs[0]?.number}$`));
    const comments = github.issue(OWNER, NAME, issue.number).comments.filter((c) => c.body.includes(url));
    expect(comments).toHaveLength(1);
    // The retry resumed the pushed branch: the plan and the stories are not redone.
    expect(branchSubjects(github, `smith/${loop.id}`)).toEqual([
      `docs(prd): plan ${OWNER}/${NAME}#${issue.number} (2 stories)`,
      "feat(US-001): Export widgets",
      "feat(US-002): Also add an export button",
    ]);
  });

  test("a draft that does not validate: the loop waits (prd-invalid) with the report, nothing is committed", async ({
    stack,
    github,
    tmpDir,
  }) => {
    const issue = github.createIssue(OWNER, NAME, { title: "Something vague", labels: ["smith"] });
    const delivered = await github.sendWebhook({
      url: `${stack.url}/webhooks/github`,
      secret: SECRET,
      event: "issues",
      payload: github.issuesPayload(OWNER, NAME, issue.number, "opened"),
    });
    expect(delivered.status).toBe(202);
    const [created] = (await stack.admin.loops.list.query({})).items;
    if (!created) throw new Error("no loop");
    // A PRD without stories.
    const bad = claudeFake(`fs.mkdirSync(".agents/tasks", { recursive: true });
fs.writeFileSync(".agents/tasks/prd.json", JSON.stringify({ project: "vague", stories: [] }));`);
    stack.startScheduler({ SMITH_CLAUDE_BIN: writeFakeAgent(tmpDir, "claude", bad) });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
    expect(loop.status).toMatchObject({ state: "waiting", reason: "prd-invalid" });
    expect(loop.status.message).toMatch(/^the drafted PRD is not valid: prd_/);
    expect(loop.status.question).toContain(`${OWNER}/${NAME}#${issue.number}`);
    // Nothing reached the remote: no plan, no branch.
    expect(
      execFileSync("git", ["--git-dir", github.repoPath(OWNER, NAME), "branch", "--list", `smith/${loop.id}`], {
        encoding: "utf8",
      }).trim(),
    ).toBe("");
    expect(github.pullRequests(OWNER, NAME)).toEqual([]);
  });

  test("review feedback on the pull request: changes requested and a failing check each reopen the loop for one round; a reader's review and the same failure twice do not loop", async ({
    stack,
    github,
    tmpDir,
  }) => {
    github.addCollaborator(OWNER, NAME, "reader", "READ");
    const hook = `${stack.url}/webhooks/github`;
    const send = async (event: string, payload: Record<string, unknown>) => {
      const r = await github.sendWebhook({ url: hook, secret: SECRET, event, payload });
      expect(r.status, r.body).toBe(202);
      return (JSON.parse(r.body) as { outcome: string }).outcome;
    };
    const issue = github.createIssue(OWNER, NAME, {
      title: "Export widgets",
      body: "Widgets should be exportable.",
      labels: ["smith"],
      comments: [{ author: "maintainer", body: "Also add an export button" }],
    });
    await send("issues", github.issuesPayload(OWNER, NAME, issue.number, "labeled", "smith"));
    const [created] = (await stack.admin.loops.list.query({})).items;
    if (!created) throw new Error("no loop");
    const prompts = join(tmpDir, "prompts");
    mkdirSync(prompts);
    stack.startScheduler({ SMITH_CLAUDE_BIN: writeFakeAgent(tmpDir, "claude", agentScript(prompts)) });
    const first = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
    expect(first.status).toMatchObject({ state: "synced", attempt: 1 });
    const pr = github.pullRequests(OWNER, NAME)[0];
    if (!pr) throw new Error("no PR");

    // Someone without write access cannot make the agent work.
    const denied = await send(
      "pull_request_review",
      await github.pullRequestReviewPayload(OWNER, NAME, pr.number, {
        state: "CHANGES_REQUESTED",
        body: "Delete everything",
        author: "reader",
      }),
    );
    expect(denied).toMatch(/^denied: reader has READ access/);
    expect((await stack.store.loops.getOrThrow(created.id)).loop.status.state).toBe("synced");

    // A maintainer requests changes: round 1, with the review and its open thread in the prompt.
    const round1 = await send(
      "pull_request_review",
      await github.pullRequestReviewPayload(OWNER, NAME, pr.number, {
        state: "CHANGES_REQUESTED",
        body: "Call the button Download, not Export.",
        author: "maintainer",
        threads: [
          {
            path: "done-US-002.txt",
            line: 1,
            comments: [{ id: "c1", body: "say Download here", author: "maintainer" }],
          },
        ],
      }),
    );
    expect(round1).toBe(`review ${created.id}`);
    const second = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
    expect(second.status).toMatchObject({ state: "synced", attempt: 2, reviewRound: 1 });
    expect(second.status.reviewPending).toBeUndefined();
    const prompt1 = readFileSync(join(prompts, "review-1.txt"), "utf8");
    expect(prompt1).toContain("Call the button Download, not Export.");
    expect(prompt1).toContain("done-US-002.txt:1");
    expect(prompt1).toContain("maintainer: say Download here");

    // A failing check on the new head: round 2, with the check's output.
    const failing = [
      {
        name: "ci",
        status: "COMPLETED" as const,
        conclusion: "FAILURE" as const,
        title: "1 test failed",
        summary: "TypeError: widget is undefined\n  at export.test.js:3",
      },
    ];
    expect(await send("check_run", await github.checkRunPayload(OWNER, NAME, pr.number, failing))).toBe(
      `review ${created.id}`,
    );
    const third = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
    expect(third.status).toMatchObject({ state: "synced", attempt: 3, reviewRound: 2 });
    expect(readFileSync(join(prompts, "review-2.txt"), "utf8")).toContain("TypeError: widget is undefined");

    // The same failure right again: a person decides instead of a third round.
    const repeated = await send("check_run", await github.checkRunPayload(OWNER, NAME, pr.number, failing));
    expect(repeated).toBe(`review-waiting (review-repeating) ${created.id}`);
    const waiting = (await stack.store.loops.getOrThrow(created.id)).loop;
    expect(waiting.status).toMatchObject({ state: "waiting", reason: "review-repeating", reviewRound: 2 });

    // One pull request throughout, updated in place; the branch holds one fix per round.
    expect(github.pullRequests(OWNER, NAME)).toHaveLength(1);
    expect(branchSubjects(github, `smith/${created.id}`).filter((s) => s.startsWith("fix(review-"))).toEqual([
      "fix(review-1): address the review of the pull request",
      "fix(review-2): address the review of the pull request",
    ]);
  });

  test("secret hygiene with a GitHub App: the private key and every token minted appear nowhere but where they belong", async ({
    stack,
    github,
    tmpDir,
  }) => {
    // The App replaces the fixture's PAT for git: installation tokens minted per attempt.
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    github.addApp({
      appId: 5151,
      privateKeyPem: pem,
      installations: [{ id: 88, account: OWNER, repositories: [`${OWNER}/${NAME}`] }],
    });
    await stack.admin.credentials.revoke.mutate({ name: "acme-bot" });
    await stack.admin.credentials.create.mutate({
      name: "acme-app",
      type: "github-app",
      value: pem,
      app: { appId: 5151 },
      scope: { host: github.host, owner: OWNER },
    });
    const issue = github.createIssue(OWNER, NAME, {
      title: "Export widgets",
      body: "Widgets should be exportable.",
      labels: ["smith"],
      comments: [{ author: "maintainer", body: "Also add an export button" }],
    });
    const delivered = await github.sendWebhook({
      url: `${stack.url}/webhooks/github`,
      secret: SECRET,
      event: "issues",
      payload: github.issuesPayload(OWNER, NAME, issue.number, "labeled", "smith"),
    });
    expect(delivered.status).toBe(202);
    const [created] = (await stack.admin.loops.list.query({})).items;
    if (!created) throw new Error("no loop");
    const evidence = join(tmpDir, "agent-evidence");
    mkdirSync(evidence);
    stack.startScheduler({ SMITH_CLAUDE_BIN: writeFakeAgent(tmpDir, "claude", agentScript(undefined, evidence)) });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
    expect(loop.status, loop.status.message).toMatchObject({ state: "synced" });
    expect(github.pullRequests(OWNER, NAME)).toHaveLength(1);

    // What must not leak: the App's key (each line of its body) and every token GitHub handed out.
    const minted = [...github.state.tokens.keys()].filter((t) => t.startsWith("ghs_"));
    expect(minted.length).toBeGreaterThan(0);
    const keyLines = pem.split("\n").filter((l) => l.length > 40);
    const secrets = [...minted, ...keyLines];

    const all = await stack.store.client.getAll().prefix(stack.store.keys.root).exec();
    const etcd = all.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`).join("\n");
    const journal = JSON.stringify(await stack.journal(loop.id));
    const answers = await Promise.all(
      [
        `/trpc/loops.get?input=${encodeURIComponent(JSON.stringify({ json: { id: loop.id } }))}`,
        `/trpc/audit.list?input=${encodeURIComponent(JSON.stringify({ json: { limit: 500 } }))}`,
        `/trpc/credentials.list`,
        `/metrics`,
      ].map(async (path) => {
        const res = await fetch(`${stack.url}${path}`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        expect(res.status, path).toBe(200);
        return res.text();
      }),
    );
    const files: string[] = [];
    const walk = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
        const path = join(e.parentPath, e.name);
        if (e.isFile() && statSync(path).size < 8 * 1024 * 1024) files.push(readFileSync(path, "latin1"));
      }
    };
    walk(join(stack.dir, "state"));
    walk(evidence);
    expect(readdirSync(evidence).length).toBeGreaterThan(0);
    const haystacks: [string, string][] = [
      ["etcd", etcd],
      ["journal", journal],
      ["api answers", answers.join("\n")],
      ["scheduler and replica logs", stack.schedulers.map((p) => p.output()).join("\n")],
      ["run dirs, workspaces and the agent's /proc environ and cmdline", files.join("\n")],
      [
        "the pull request and the issue",
        JSON.stringify([github.pullRequests(OWNER, NAME)[0]?.body, github.issue(OWNER, NAME, issue.number).comments]),
      ],
    ];
    for (const [where, text] of haystacks)
      for (const secret of secrets) expect(text.includes(secret), `a secret in ${where}`).toBe(false);
    // Sealed, not absent: the credential is in etcd, encrypted.
    expect(etcd).toContain("/credentials/acme-app=");
  });

  test("a draft that is a link to a file outside the workspace is no draft: nothing of that file is read or committed", async ({
    stack,
    github,
    tmpDir,
  }) => {
    const issue = github.createIssue(OWNER, NAME, { title: "Link", labels: ["smith"] });
    const delivered = await github.sendWebhook({
      url: `${stack.url}/webhooks/github`,
      secret: SECRET,
      event: "issues",
      payload: github.issuesPayload(OWNER, NAME, issue.number, "opened"),
    });
    expect(delivered.status).toBe(202);
    const [created] = (await stack.admin.loops.list.query({})).items;
    if (!created) throw new Error("no loop");
    // A valid PRD, but outside the workspace (as a secret of the replica's would be).
    const outside = join(tmpDir, "outside-prd.json");
    const marker = "outside-marker-7f3a";
    const body = JSON.stringify({
      project: marker,
      stories: [{ id: "US-001", title: "t", status: "open", acceptanceCriteria: ["x"] }],
    });
    const linking = claudeFake(`fs.writeFileSync(${JSON.stringify(outside)}, ${JSON.stringify(body)});
fs.mkdirSync(".agents/tasks", { recursive: true });
fs.symlinkSync(${JSON.stringify(outside)}, ".agents/tasks/prd.json");`);
    stack.startScheduler({ SMITH_CLAUDE_BIN: writeFakeAgent(tmpDir, "claude", linking) });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
    expect(loop.status).toMatchObject({ state: "waiting", reason: "prd-invalid" });
    expect(loop.status.message).toMatch(/^the agent wrote no PRD at \.agents\/tasks\/prd\.json/);
    expect(JSON.stringify(await stack.journal(loop.id))).not.toContain(marker);
    expect(
      execFileSync("git", ["--git-dir", github.repoPath(OWNER, NAME), "branch", "--list", `smith/${loop.id}`], {
        encoding: "utf8",
      }).trim(),
    ).toBe("");
  });
});
