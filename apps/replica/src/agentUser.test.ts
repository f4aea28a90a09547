import { tmpDirTest as test } from "@smith/testing";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { AgentUser } from "./agentUser.ts";

const root = process.getuid?.() === 0;

describe("AgentUser", () => {
  test.skipIf(!root)(
    "grant: the workspace becomes the agent's, but not .git, never through a symlink, never a hard-linked file of someone else",
    ({ tmpDir }) => {
      const user = AgentUser.resolve("nobody");
      const ws = join(tmpDir, "ws");
      mkdirSync(join(ws, ".git", "hooks"), { recursive: true });
      writeFileSync(join(ws, ".git", "config"), "[core]\n");
      mkdirSync(join(ws, "src"));
      writeFileSync(join(ws, "src", "a.ts"), "x");
      const outside = join(tmpDir, "secret");
      writeFileSync(outside, "root's", { mode: 0o600 });
      symlinkSync(outside, join(ws, "src", "link"));
      linkSync(outside, join(ws, "src", "hardlink"));

      user.grant(ws);
      const { uid, gid } = user.runAs;
      expect(statSync(join(ws, "src", "a.ts")).uid).toBe(uid);
      expect(statSync(join(ws, "src")).uid).toBe(uid);
      expect(lstatSync(join(ws, "src", "link")).uid).toBe(uid);
      // The link's target (through a symlink or a hard link), the top directory and .git stay root's.
      expect(statSync(outside).uid).toBe(0);
      expect(statSync(join(ws, "src", "hardlink")).uid).toBe(0);
      expect(statSync(ws)).toMatchObject({ uid: 0, gid });
      expect(statSync(ws).mode & 0o7777).toBe(0o3770);
      expect(statSync(join(ws, ".git", "config")).uid).toBe(0);
      expect(statSync(join(ws, ".git", "hooks")).uid).toBe(0);

      const env = user.env(ws);
      expect(env).toMatchObject({ HOME: `${ws}.home`, GIT_CONFIG_KEY_0: "safe.directory", GIT_CONFIG_VALUE_0: ws });
      expect(statSync(`${ws}.home`)).toMatchObject({ uid, gid });
      expect(statSync(`${ws}.home`).mode & 0o777).toBe(0o700);
    },
  );

  test.skipIf(!root)(
    "grant: the agent can write the top directory but cannot move .git away or put its own .git in its place",
    ({ tmpDir }) => {
      const user = AgentUser.resolve("nobody");
      chmodSync(tmpDir, 0o755);
      const ws = join(tmpDir, "ws");
      mkdirSync(join(ws, ".git", "hooks"), { recursive: true });
      writeFileSync(join(ws, ".git", "config"), "[core]\n");
      user.grant(ws);
      const asAgent = (command: string, ...args: string[]) =>
        spawnSync(command, args, { cwd: ws, uid: user.runAs.uid, gid: user.runAs.gid, encoding: "utf8" });

      expect(asAgent("touch", "new-file").status).toBe(0);
      const moved = asAgent("mv", "--", ".git", ".git-away");
      expect(moved.status).not.toBe(0);
      expect(moved.stderr).toMatch(/not permitted/);
      expect(asAgent("rm", "-rf", "--", ".git").status).not.toBe(0);
      expect(asAgent("sh", "-c", "echo '#!/bin/sh' > .git/hooks/pre-commit").status).not.toBe(0);
      expect(statSync(join(ws, ".git")).uid).toBe(0);
      expect(existsSync(join(ws, ".git", "config"))).toBe(true);
      expect(existsSync(join(ws, ".git", "hooks", "pre-commit"))).toBe(false);
      expect(existsSync(join(ws, ".git-away"))).toBe(false);
    },
  );

  test.skipIf(!root)("resolve refuses root and unknown users, naming the variable", () => {
    expect(() => AgentUser.resolve("root")).toThrow(/SMITH_AGENT_USER: root is root/);
    expect(() => AgentUser.resolve("no-such-smith-user")).toThrow(/SMITH_AGENT_USER: no user "no-such-smith-user"/);
  });
});
