import { stackTest as test } from "./fixtures.ts";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake, WORKS } from "./fakes.ts";
import { writeFakeAgent } from "./harness.ts";
import { branchSubjects } from "./support.ts";

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@t",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@t",
};
const PRD_PATH = ".agents/tasks/prd.json";

/** A bare remote whose `main` holds exactly `files` (the PRD among them). */
function repo(dir: string, files: Record<string, string>): string {
  const remote = join(dir, "remote.git");
  const seed = join(dir, "seed");
  execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", remote]);
  mkdirSync(seed, { recursive: true });
  execFileSync("git", ["init", "--quiet", "--initial-branch=main"], { cwd: seed });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(seed, path)), { recursive: true });
    writeFileSync(join(seed, path), content);
  }
  execFileSync("git", ["add", "--all"], { cwd: seed, env: GIT_ENV });
  execFileSync("git", ["commit", "--quiet", "-m", "init"], { cwd: seed, env: GIT_ENV });
  execFileSync("git", ["push", "--quiet", remote, "main"], { cwd: seed, env: GIT_ENV });
  return remote;
}

/** A ralph (snarktank) PRD: `userStories` with `passes`, and no quality gates (that format has none). */
const RALPH_PRD = JSON.stringify({
  project: "calc",
  branchName: "ralph/calc",
  description: "a calculator",
  userStories: [
    {
      id: "US-001",
      title: "Add a double function",
      description: "src/double.js exports double(n)",
      acceptanceCriteria: ["double(2) is 4", "tests pass"],
      priority: 1,
      passes: false,
      notes: "",
    },
  ],
});

const storyPrd = (gates: string[]) =>
  JSON.stringify({
    project: "p",
    qualityGates: gates,
    stories: [
      {
        id: "US-001",
        title: "First",
        status: "open",
        dependsOn: [],
        description: "one",
        acceptanceCriteria: ["done-US-001.txt exists"],
      },
      {
        id: "US-002",
        title: "Second",
        status: "open",
        dependsOn: [],
        description: "two",
        acceptanceCriteria: ["done-US-002.txt exists"],
      },
    ],
  }) + "\n";

function git(args: string[]): string {
  return execFileSync("git", args, { encoding: "utf8", env: GIT_ENV });
}

describe("a story is done only on evidence", () => {
  test("a liar agent on a ralph PRD in a repo with npm test: the gate is detected and the story stays open", async ({
    stack,
    tmpDir,
  }) => {
    const remote = repo(tmpDir, {
      "package.json": JSON.stringify({ name: "calc", private: true, scripts: { test: "node --test" } }),
      "test/add.test.js": 'const test = require("node:test");\ntest("adds", () => {});\n',
      [PRD_PATH]: RALPH_PRD,
    });
    // Writes a test for the story but not the code, and says it is done.
    const liar = `fs.writeFileSync("test/double.test.js", 'const test = require("node:test"); const assert = require("node:assert");\\ntest("double", () => { assert.equal(require("../src/double.js").double(2), 4); });\\n');`;
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(liar, { claims: "All done: double() implemented for " }));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create({
      spec: {
        repo: { url: remote },
        prd: { kind: "path", path: PRD_PATH },
        agent: { provider: "claude" },
        limits: { maxConsecutiveFailures: 2 },
      },
    });
    const loop = await stack.waitFor(created.id, ["waiting", "synced", "flatline", "cancelled"], 120_000);
    expect(loop.status).toMatchObject({ state: "waiting", reason: "needs-human", progress: { done: 0, total: 1 } });
    const journal = await stack.journal(loop.id);
    expect(
      journal.some((e) => /detected quality gates: `npm test` \(package\.json scripts\.test \(npm\)\)/.test(e.message)),
    ).toBe(true);
    expect(loop.evidence?.gates).toEqual({
      source: "detected",
      commands: ["npm test"],
      detectedFrom: ["package.json scripts.test (npm)"],
    });
    expect(loop.evidence?.baseline).toMatchObject({ passed: true, gates: [{ command: "npm test", exitCode: 0 }] });
    const story = loop.evidence?.stories.find((s) => s.storyId === "US-001");
    expect(story).toMatchObject({
      state: "failed",
      iterations: 2,
      gates: [{ command: "npm test", exitCode: 1, passed: false }],
    });
    expect(story?.commit).toBeUndefined();
    expect(story?.gates[0]?.outputTail).toMatch(/double/);
    // Nothing was committed: the work branch (if any) has no story commit.
    expect(git(["--git-dir", remote, "branch", "--list", `smith/${loop.id}`]).trim()).toBe("");
  });

  test("a repository with no detectable gate: the loop waits (no-gates) before any agent runs", async ({
    stack,
    tmpDir,
  }) => {
    const remote = repo(tmpDir, { "README.md": "# nothing to test\n", [PRD_PATH]: RALPH_PRD });
    const marker = join(tmpDir, "agent-ran");
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(`fs.writeFileSync(${JSON.stringify(marker)}, "x");`));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create({
      spec: { repo: { url: remote }, prd: { kind: "path", path: PRD_PATH }, agent: { provider: "claude" } },
    });
    const loop = await stack.waitFor(created.id, ["waiting", "synced", "flatline", "cancelled"], 90_000);
    expect(loop.status).toMatchObject({ state: "waiting", reason: "no-gates", iteration: 0 });
    expect(loop.status.question).toMatch(/qualityGates/);
    expect(() => readFileSync(marker)).toThrow();
  });

  test("an agent that writes .env with a key: refused, told why, and the key is in no commit on the remote", async ({
    stack,
    tmpDir,
  }) => {
    const key = "sk-ant-api03-" + "Zq8vN2xK5mP1wR7tY4uI0oL3aS6dF9gH";
    const remote = repo(tmpDir, { "README.md": "# app\n", [PRD_PATH]: storyPrd(["test ! -e notes.txt"]) });
    const prompts = join(tmpDir, "prompts.txt");
    const action = `fs.appendFileSync(${JSON.stringify(prompts)}, prompt + "\\n=====\\n");
if (prompt.includes("Smith refused to commit")) fs.rmSync(".env", { force: true });
else if (story === "US-001") fs.writeFileSync(".env", "ANTHROPIC_API_KEY=${key}\\n");
${WORKS}`;
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(action));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create({
      spec: { repo: { url: remote }, prd: { kind: "path", path: PRD_PATH }, agent: { provider: "claude" } },
    });
    const loop = await stack.waitFor(created.id, ["waiting", "synced", "flatline", "cancelled"], 120_000);
    expect(loop.status.state).toBe("synced");
    expect(branchSubjects(remote, `smith/${loop.id}`)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
    const everything = git(["--git-dir", remote, "log", "--all", "-p", "--format=%H %s"]);
    expect(everything).not.toContain(key);
    expect(git(["--git-dir", remote, "log", "--all", "--name-only", "--format="]).split("\n")).not.toContain(".env");
    const second = readFileSync(prompts, "utf8").split("\n=====\n")[1] ?? "";
    expect(second).toContain("Smith refused to commit this change; nothing was committed or pushed");
    expect(second).toContain(".env: environment files hold secrets and are never committed (env-file)");
    expect(second).not.toContain(key);
    const journal = JSON.stringify(await stack.journal(loop.id));
    expect(journal).toContain("commit refused: .env (env-file)");
    expect(journal).not.toContain(key);
    expect(JSON.stringify(loop)).not.toContain(key);
  });

  test("the base branch moves during the loop: the final verification runs on the rebased tree", async ({
    stack,
    tmpDir,
  }) => {
    const remote = repo(tmpDir, { "README.md": "# app\n", [PRD_PATH]: storyPrd(["test ! -e notes.txt"]) });
    // While working on US-001 someone lands a commit on main, touching another file.
    const other = join(tmpDir, "other");
    const action = `if (story === "US-001" && !fs.existsSync(${JSON.stringify(other)})) {
  const { execFileSync } = require("node:child_process");
  const env = { ...process.env, GIT_AUTHOR_NAME: "o", GIT_AUTHOR_EMAIL: "o@o", GIT_COMMITTER_NAME: "o", GIT_COMMITTER_EMAIL: "o@o" };
  execFileSync("git", ["clone", "--quiet", ${JSON.stringify(remote)}, ${JSON.stringify(other)}], { env });
  fs.writeFileSync(${JSON.stringify(join(other, "CHANGELOG.md"))}, "moved\\n");
  execFileSync("git", ["add", "CHANGELOG.md"], { cwd: ${JSON.stringify(other)}, env });
  execFileSync("git", ["commit", "--quiet", "-m", "docs: changelog on main"], { cwd: ${JSON.stringify(other)}, env });
  execFileSync("git", ["push", "--quiet", "origin", "main"], { cwd: ${JSON.stringify(other)}, env });
}
${WORKS}`;
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(action));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create({
      spec: { repo: { url: remote }, prd: { kind: "path", path: PRD_PATH }, agent: { provider: "claude" } },
    });
    const loop = await stack.waitFor(created.id, ["waiting", "synced", "flatline", "cancelled"], 120_000);
    expect(loop.status.state).toBe("synced");
    const main = git(["--git-dir", remote, "rev-parse", "main"]).trim();
    const branch = `smith/${loop.id}`;
    // The branch sits on the moved main: main's new commit, then the stories' commits on top.
    expect(git(["--git-dir", remote, "log", "--format=%s", "-1", "main"]).trim()).toBe("docs: changelog on main");
    execFileSync("git", ["--git-dir", remote, "merge-base", "--is-ancestor", main, branch]);
    expect(branchSubjects(remote, branch)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
    const head = git(["--git-dir", remote, "rev-parse", branch]).trim();
    expect(loop.evidence?.final).toMatchObject({ passed: true, method: "rebase", base: main, commit: head });
    expect(loop.evidence?.final?.gates).toMatchObject([{ command: "test ! -e notes.txt", passed: true }]);
    const journal = await stack.journal(loop.id);
    expect(
      journal.some(
        (e) => e.phase === "verify" && e.message.startsWith(`integrated main (${main.slice(0, 12)}) by rebase`),
      ),
    ).toBe(true);
  });

  test("the base branch changes the same lines as the agent: the final verification conflicts, one more iteration resolves it, verified again and synced", async ({
    stack,
    tmpDir,
  }) => {
    const remote = repo(tmpDir, {
      "README.md": "# app\n",
      "shared.txt": "original\n",
      [PRD_PATH]: storyPrd(["test ! -e notes.txt", "! grep -q '<<<<<<<' shared.txt"]),
    });
    // While working on US-001 someone lands a change to shared.txt on main; the agent changes the
    // same line. Once asked to integrate, it keeps both sides.
    const other = join(tmpDir, "other");
    const action = `if (story === "US-001" && !fs.existsSync(${JSON.stringify(other)})) {
  const { execFileSync } = require("node:child_process");
  const env = { ...process.env, GIT_AUTHOR_NAME: "o", GIT_AUTHOR_EMAIL: "o@o", GIT_COMMITTER_NAME: "o", GIT_COMMITTER_EMAIL: "o@o" };
  execFileSync("git", ["clone", "--quiet", ${JSON.stringify(remote)}, ${JSON.stringify(other)}], { env });
  fs.writeFileSync(${JSON.stringify(join(other, "shared.txt"))}, "from main\\n");
  execFileSync("git", ["commit", "--quiet", "-am", "shared: main's version"], { cwd: ${JSON.stringify(other)}, env });
  execFileSync("git", ["push", "--quiet", "origin", "main"], { cwd: ${JSON.stringify(other)}, env });
}
if (story === "final-verification") {
  fs.appendFileSync(${JSON.stringify(join(tmpDir, "final-prompts.txt"))}, prompt);
  fs.writeFileSync("shared.txt", "from main\\nfrom the agent\\n");
} else {
  if (story === "US-001") fs.writeFileSync("shared.txt", "from the agent\\n");
  ${WORKS}
}`;
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(action));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create({
      spec: { repo: { url: remote }, prd: { kind: "path", path: PRD_PATH }, agent: { provider: "claude" } },
    });
    const loop = await stack.waitFor(created.id, ["waiting", "synced", "flatline", "cancelled"], 120_000);
    if (loop.status.state !== "synced")
      throw new Error(
        `${loop.status.state} ${loop.status.reason}: ${loop.status.message}\n` +
          (await stack.journal(loop.id)).map((e) => `${e.phase} ${e.level} ${e.message.slice(0, 400)}`).join("\n"),
      );
    expect(loop.status).toMatchObject({ state: "synced", attempt: 1, iteration: 3 });
    const main = git(["--git-dir", remote, "rev-parse", "main"]).trim();
    const branch = `smith/${loop.id}`;
    execFileSync("git", ["--git-dir", remote, "merge-base", "--is-ancestor", main, branch]);
    expect(git(["--git-dir", remote, "show", `${branch}:shared.txt`])).toBe("from main\nfrom the agent\n");
    expect(git(["--git-dir", remote, "log", "--format=%s", "-1", branch]).trim()).toBe(
      "fix: integrate the latest main",
    );
    // The repair iteration was told what conflicted, with the markers in the tree.
    const prompt = readFileSync(join(tmpDir, "final-prompts.txt"), "utf8");
    expect(prompt).toMatch(/no conflict markers remain in shared\.txt/);
    const journal = await stack.journal(loop.id);
    expect(
      journal.some(
        (e) =>
          e.phase === "verify" &&
          /^Integrating the latest main \([0-9a-f]{12}\) by rebase conflicts in: shared\.txt/.test(e.message),
      ),
    ).toBe(true);
    expect(
      journal.some(
        (e) => e.phase === "verify" && e.message === `the work branch already contains main (${main.slice(0, 12)})`,
      ),
    ).toBe(true);
    const head = git(["--git-dir", remote, "rev-parse", branch]).trim();
    expect(loop.evidence?.final).toMatchObject({ passed: true, base: main, commit: head });
  });

  test("a failing baseline: recorded, stories held to no worse by default; green asked for: waiting baseline-failing", async ({
    stack,
    tmpDir,
  }) => {
    const gates = ["test -e lint-ok.txt", "test ! -e notes.txt"];
    const lenient = repo(join(tmpDir, "a"), { "README.md": "# a\n", [PRD_PATH]: storyPrd(gates) });
    const strict = repo(join(tmpDir, "b"), { "README.md": "# b\n", [PRD_PATH]: storyPrd(gates) });
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(WORKS));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const spec = (url: string) => ({
      repo: { url },
      prd: { kind: "path" as const, path: PRD_PATH },
      agent: { provider: "claude" as const },
    });
    const a = await stack.create({ spec: spec(lenient) });
    const b = await stack.create({ spec: { ...spec(strict), baseline: "green" } });

    const green = await stack.waitFor(b.id, ["waiting", "synced", "flatline", "cancelled"], 120_000);
    expect(green.status).toMatchObject({ state: "waiting", reason: "baseline-failing", iteration: 0 });
    expect(green.evidence?.baseline).toMatchObject({
      passed: false,
      gates: [
        { command: "test -e lint-ok.txt", passed: false },
        { command: "test ! -e notes.txt", passed: true },
      ],
    });

    const loop = await stack.waitFor(a.id, ["waiting", "synced", "flatline", "cancelled"], 120_000);
    expect(loop.status.state).toBe("synced");
    expect(loop.evidence?.baseline?.passed).toBe(false);
    for (const id of ["US-001", "US-002"]) {
      const s = loop.evidence?.stories.find((x) => x.storyId === id);
      expect(s).toMatchObject({
        state: "passed",
        gates: [
          { command: "test -e lint-ok.txt", passed: false, failedAtBaseline: true },
          { command: "test ! -e notes.txt", passed: true },
        ],
      });
      expect(s?.commit).toMatch(/^[0-9a-f]{40}$/);
    }
    const journal = await stack.journal(loop.id);
    expect(journal.some((e) => e.phase === "baseline" && /already fails: test -e lint-ok\.txt/.test(e.message))).toBe(
      true,
    );
  });
});
