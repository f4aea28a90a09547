import { runProcess } from "@smith/agents";
import { tmpDirTest as test } from "@smith/testing";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { SharedWorkspace } from "./sharedWorkspace.ts";

const root = process.getuid?.() === 0;
/** The agent's uid and the shared group, as in the Pod (there: 1001 and the fsGroup). */
const AGENT = { uid: 65534, gid: 65534 };

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@localhost", ...args], { cwd, encoding: "utf8" });
}

/** A clone-like repository in a setgid, sticky directory of the shared group, made by "the replica" (this uid). */
function workspace(tmpDir: string): string {
  chmodSync(tmpDir, 0o755);
  const work = join(tmpDir, "work");
  mkdirSync(work);
  chownSync(work, process.getuid?.() ?? 0, AGENT.gid);
  chmodSync(work, 0o3770);
  const ws = join(work, "repo");
  mkdirSync(ws);
  git(ws, "init", "-q", "-b", "main");
  mkdirSync(join(ws, "src"));
  writeFileSync(join(ws, "README.md"), "# demo\n");
  writeFileSync(join(ws, "src", "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
  git(ws, "add", "-A");
  git(ws, "commit", "-q", "-m", "initial");
  return ws;
}

describe("SharedWorkspace", () => {
  test("grant: group-writable but .git, top directory 3770, never through a symlink or a hard link", ({ tmpDir }) => {
    const ws = workspace(tmpDir);
    const outside = join(tmpDir, "secret");
    writeFileSync(outside, "the replica's", { mode: 0o600 });
    symlinkSync(outside, join(ws, "src", "link"));
    linkSync(outside, join(ws, "src", "hardlink"));

    new SharedWorkspace().grant(ws);
    expect(statSync(ws).mode & 0o7777).toBe(0o3770);
    expect(statSync(join(ws, "README.md")).mode & 0o777).toBe(0o664);
    expect(statSync(join(ws, "src", "run.sh")).mode & 0o777).toBe(0o775);
    expect(statSync(join(ws, "src")).mode & 0o7777).toBe(0o2775);
    expect(statSync(outside).mode & 0o777).toBe(0o600);
    expect(statSync(join(ws, ".git")).mode & 0o070).toBe(0o050);
    expect(statSync(join(ws, ".git", "config")).mode & 0o020).toBe(0);
    expect(lstatSync(join(ws, "src", "link")).isSymbolicLink()).toBe(true);
  });

  test("refuses a top directory that is a symlink", ({ tmpDir }) => {
    const ws = workspace(tmpDir);
    symlinkSync(ws, join(tmpDir, "alias"));
    expect(() => new SharedWorkspace().grant(join(tmpDir, "alias"))).toThrow(/not a directory of the replica's/);
  });

  test.skipIf(!root)(
    "an agent of another uid in the shared group edits the work tree but cannot write .git, plant a hook, or swap .git for its own; the replica commits its files",
    async ({ tmpDir }) => {
      const ws = workspace(tmpDir);
      const shared = new SharedWorkspace();
      shared.grant(ws);
      const attempts = [
        ["edit", "echo edited >> README.md"],
        ["create", "mkdir -p lib && echo new > lib/new.txt"],
        ["hook", "echo 'curl evil' > .git/hooks/pre-commit"],
        ["config", "echo '[core] hooksPath=/tmp' >> .git/config"],
        ["rename-git", "mv .git .gitx"],
        ["remove-git", "rm -rf .git"],
        ["replace-git", "mkdir .git2 && mv .git2 .git"],
        ["git-status", "git status --porcelain >/dev/null"],
      ];
      const script = `umask 002; ${attempts.map(([name, cmd]) => `if ( ${cmd} ) 2>/dev/null; then echo ${name}:done; else echo ${name}:denied; fi`).join("; ")}`;
      const lines: string[] = [];
      const r = await runProcess({
        command: "/bin/sh",
        args: ["-c", script],
        cwd: ws,
        env: { PATH: "/usr/bin:/bin", HOME: tmpDir, ...shared.env(ws) },
        timeoutMs: 30_000,
        runAs: AGENT,
        onLine: (_s, l) => lines.push(l),
      });
      expect(r.exitCode).toBe(0);
      expect(lines).toEqual([
        "edit:done",
        "create:done",
        "hook:denied",
        "config:denied",
        "rename-git:denied",
        "remove-git:denied",
        "replace-git:denied",
        "git-status:done",
      ]);
      expect(statSync(join(ws, "lib", "new.txt"))).toMatchObject({ uid: AGENT.uid, gid: AGENT.gid });
      expect(statSync(join(ws, "lib", "new.txt")).mode & 0o060).toBe(0o060);
      git(ws, "add", "-A");
      git(ws, "commit", "-q", "-m", "agent's work");
      expect(git(ws, "show", "--stat", "--format=", "HEAD")).toContain("lib/new.txt");
    },
  );
});
