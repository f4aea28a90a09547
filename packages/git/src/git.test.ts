import { tmpDirTest as test } from "@smith/testing";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { Git } from "./git.ts";

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
    const a = new Git({ cwd: join(tmpDir, "a"), env });
    await a.clone(remote);
    expect(await a.remoteBranchExists("smith/x")).toBe(false);
    await a.checkoutNew("smith/x", "origin/main");
    writeFileSync(join(a.cwd, "new.txt"), "x\n");
    writeFileSync(join(a.cwd, "README.md"), "changed\n");
    expect((await a.changedPaths()).sort()).toEqual(["README.md", "new.txt"]);
    expect(await a.changedPaths(["README.md", "new.txt"])).toEqual([]);
    await a.commitAll("feat(US-001): first");
    await a.push("smith/x");
    expect(await a.changedPaths()).toEqual([]);

    const b = new Git({ cwd: join(tmpDir, "b"), env });
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
});
