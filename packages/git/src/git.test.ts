import { tmpDirTest as test } from "@smith/testing";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { Git, permanentCloneFailure } from "./git.ts";

function bareRemote(dir: string): string {
  const seed = join(dir, "seed");
  const remote = join(dir, "remote.git");
  execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", remote]);
  mkdirSync(seed);
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@t",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@t",
  };
  execFileSync("git", ["init", "--quiet", "--initial-branch=main"], { cwd: seed });
  writeFileSync(join(seed, "README.md"), "hello\n");
  execFileSync("git", ["add", "."], { cwd: seed, env });
  execFileSync("git", ["commit", "--quiet", "-m", "init"], { cwd: seed, env });
  execFileSync("git", ["push", "--quiet", remote, "main"], { cwd: seed, env });
  return remote;
}

describe("git", () => {
  test("clone, branch, commit, push and resume from the remote work branch", async ({ tmpDir }) => {
    const remote = bareRemote(tmpDir);
    const env = { PATH: process.env.PATH ?? "", HOME: tmpDir };
    const a = new Git({ cwd: join(tmpDir, "a"), env, allowProtocols: ["file"] });
    await a.clone(remote);
    expect(await a.remoteBranchExists("smith/x")).toBe(false);
    await a.checkoutNew("smith/x", "origin/main");
    writeFileSync(join(a.cwd, "new.txt"), "x\n");
    writeFileSync(join(a.cwd, "README.md"), "changed\n");
    expect((await a.changedPaths()).sort()).toEqual(["README.md", "new.txt"]);
    expect(await a.changedPaths(["README.md", "new.txt"])).toEqual([]);
    await a.stageAll();
    expect(await a.commitStaged("feat(US-001): first")).toMatchObject({ ok: true });
    await a.push("smith/x");
    expect(await a.changedPaths()).toEqual([]);

    const b = new Git({ cwd: join(tmpDir, "b"), env, allowProtocols: ["file"] });
    await b.clone(remote);
    expect(await b.remoteBranchExists("smith/x")).toBe(true);
    await b.fetch("smith/x");
    await b.checkoutNew("smith/x", "origin/smith/x");
    expect(await b.subjects("origin/main")).toEqual(["feat(US-001): first"]);
    expect(await b.diffStat("origin/main")).toMatch(/2 files changed/);
  });

  test("a failing command is a typed error with the command and its stderr", async ({ tmpDir }) => {
    const g = new Git({ cwd: tmpDir, env: { PATH: process.env.PATH ?? "" } });
    await expect(g.run(["checkout", "nope"])).rejects.toMatchObject({
      code: "internal",
      details: { command: "git checkout nope" },
    });
  });

  test("a URL that looks like an option is a path to git, never an option", async ({ tmpDir }) => {
    const marker = join(tmpDir, "pwned");
    const g = new Git({ cwd: join(tmpDir, "w"), env: { PATH: process.env.PATH ?? "" }, allowProtocols: ["file"] });
    const err = await g.clone(`--upload-pack=touch ${marker}`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "internal", details: { permanent: "repo-not-found" } });
    expect(existsSync(marker)).toBe(false);
  });

  test("GIT_ALLOW_PROTOCOL: ext:: and a transport the caller did not allow are refused for good", async ({
    tmpDir,
  }) => {
    const marker = join(tmpDir, "pwned");
    const remote = bareRemote(tmpDir);
    const env = { PATH: process.env.PATH ?? "" };
    const ext = new Git({ cwd: join(tmpDir, "x"), env, allowProtocols: ["https", "ssh"] });
    await expect(ext.clone(`ext::sh -c touch% ${marker}`)).rejects.toMatchObject({
      details: { permanent: "protocol-not-allowed" },
    });
    expect(existsSync(marker)).toBe(false);
    // The default (https, ssh) does not read the replica's own disk.
    const local = new Git({ cwd: join(tmpDir, "l"), env });
    await expect(local.clone(remote)).rejects.toMatchObject({ details: { permanent: "protocol-not-allowed" } });
  });

  test("a missing repository and refused credentials are permanent failures, with git's message", async ({
    tmpDir,
  }) => {
    const env = { PATH: process.env.PATH ?? "", HOME: tmpDir };
    const missing = new Git({ cwd: join(tmpDir, "m"), env, allowProtocols: ["file"] });
    await expect(missing.clone(join(tmpDir, "nope.git"))).rejects.toMatchObject({
      message: expect.stringMatching(/does not exist/),
      details: { permanent: "repo-not-found" },
    });
    // A smart-HTTP server that wants credentials answers 401 with a Basic challenge, as GitHub does.
    const server = createServer((_req, res) => {
      res.writeHead(401, { "www-authenticate": 'Basic realm="git"' });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const auth = new Git({ cwd: join(tmpDir, "a"), env, allowProtocols: ["http"] });
      await expect(auth.clone(`http://127.0.0.1:${port}/acme/app.git`)).rejects.toMatchObject({
        details: { permanent: "auth-failed" },
      });
    } finally {
      server.close();
    }
  });
});

describe("permanentCloneFailure", () => {
  test.each([
    ["remote: Repository not found.\nfatal: repository 'https://github.com/a/b/' not found", "repo-not-found"],
    [
      "fatal: '/x' does not appear to be a git repository\nfatal: Could not read from remote repository.",
      "repo-not-found",
    ],
    ["git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.", "auth-failed"],
    ["fatal: Authentication failed for 'https://github.com/a/b/'", "auth-failed"],
    ["fatal: transport 'ext' not allowed", "protocol-not-allowed"],
  ])("%j is %s", (stderr, kind) => {
    expect(permanentCloneFailure(stderr)).toBe(kind);
  });

  test.each([
    "fatal: unable to access 'https://github.com/a/b/': Could not resolve host: github.com",
    "ssh: connect to host github.com port 22: Connection timed out\nfatal: Could not read from remote repository.",
    "fatal: the remote end hung up unexpectedly",
  ])("%j may pass on a retry", (stderr) => {
    expect(permanentCloneFailure(stderr)).toBeUndefined();
  });
});

describe("git: what a commit check needs", () => {
  test("staged paths and blobs, ignored paths, hooks refusing a commit, reset keeps the files", async ({ tmpDir }) => {
    const remote = bareRemote(tmpDir);
    const env = { PATH: process.env.PATH ?? "", HOME: tmpDir };
    const g = new Git({ cwd: join(tmpDir, "w"), env, allowProtocols: ["file"] });
    await g.clone(remote);
    const start = await g.headSha();
    writeFileSync(join(g.cwd, ".gitignore"), "dist/\n");
    mkdirSync(join(g.cwd, "dist"));
    writeFileSync(join(g.cwd, "dist", "out.js"), "x\n");
    writeFileSync(join(g.cwd, "README.md"), "changed\n");
    writeFileSync(join(g.cwd, "bin.dat"), Buffer.from([1, 0, 2, 3]));
    await g.stageAll();
    expect((await g.stagedPaths(start)).sort()).toEqual([".gitignore", "README.md", "bin.dat"]);
    expect((await g.stagedPaths(start, "A")).sort()).toEqual([".gitignore", "bin.dat"]);
    expect(await g.ignoredPaths(["dist/out.js", "README.md"])).toEqual(["dist/out.js"]);
    const blob = await g.stagedBlob("README.md", 3);
    expect(blob).toEqual({ sizeBytes: 8, head: Buffer.from("cha") });

    mkdirSync(join(g.cwd, "hooks"));
    writeFileSync(join(g.cwd, "hooks", "pre-commit"), "#!/bin/sh\necho 'lint failed' >&2\nexit 1\n", { mode: 0o755 });
    await g.run(["config", "core.hooksPath", "hooks"]);
    const refused = await g.commitStaged("feat: x");
    expect(refused).toMatchObject({ ok: false, output: expect.stringContaining("lint failed") });
    const forced = await g.commitStaged("feat: x", { noVerify: true });
    expect(forced.ok).toBe(true);
    await g.resetTo(start);
    expect(await g.headSha()).toBe(start);
    expect((await g.changedPaths()).sort()).toEqual([".gitignore", "README.md", "bin.dat", "hooks/pre-commit"]);

    // Discarding: tracked changes undone, untracked files and directories gone, ignored files kept.
    await g.run(["config", "core.hooksPath", ".git/hooks"]);
    writeFileSync(join(g.cwd, ".git", "info", "exclude"), "dist/\n");
    await g.discardChanges();
    expect(await g.changedPaths()).toEqual([]);
    expect(readFileSync(join(g.cwd, "README.md"), "utf8")).toBe("hello\n");
    expect(existsSync(join(g.cwd, "hooks"))).toBe(false);
    expect(existsSync(join(g.cwd, ".gitignore"))).toBe(false);
    expect(existsSync(join(g.cwd, "dist", "out.js"))).toBe(true);
  });
});
