import { tmpDirTest as test } from "@smith/testing";
import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { readWorkspaceFile, UnsafeWorkspacePath, writeWorkspaceFile } from "./workspaceFile.ts";

/** A workspace and, outside it, a file of the replica's (its token, say). */
function setup(tmpDir: string): { ws: string; secret: string } {
  const ws = join(tmpDir, "ws");
  mkdirSync(join(ws, "docs"), { recursive: true });
  const secret = join(tmpDir, "token");
  writeFileSync(secret, "replica-token\n", { mode: 0o600 });
  return { ws, secret };
}

describe("workspace files", () => {
  test("reads, writes, appends and creates directories; a missing file reads as undefined", ({ tmpDir }) => {
    const { ws } = setup(tmpDir);
    expect(readWorkspaceFile(ws, "docs/progress.md")).toBeUndefined();
    writeWorkspaceFile(ws, "a/b/prd.json", '{"x":1}\n');
    writeWorkspaceFile(ws, "a/b/prd.json", "{}\n");
    expect(readWorkspaceFile(ws, "a/b/prd.json")).toBe("{}\n");
    writeWorkspaceFile(ws, "docs/progress.md", "one\n", { append: true });
    writeWorkspaceFile(ws, "docs/progress.md", "two\n", { append: true });
    expect(readWorkspaceFile(ws, "docs/progress.md")).toBe("one\ntwo\n");
  });

  test("never reads or writes through a symbolic link the agent planted, last component or parent", ({ tmpDir }) => {
    const { ws, secret } = setup(tmpDir);
    symlinkSync(secret, join(ws, "docs", "progress.md"));
    symlinkSync(tmpDir, join(ws, "linked"));
    expect(() => readWorkspaceFile(ws, "docs/progress.md")).toThrow(UnsafeWorkspacePath);
    expect(() => writeWorkspaceFile(ws, "docs/progress.md", "x", { append: true })).toThrow(/a symbolic link/);
    expect(() => readWorkspaceFile(ws, "linked/token")).toThrow(/linked: not a directory/);
    expect(() => writeWorkspaceFile(ws, "linked/token", "x")).toThrow(UnsafeWorkspacePath);
    expect(() => readWorkspaceFile(ws, "../token")).toThrow(/not a path inside the workspace/);
    expect(readFileSync(secret, "utf8")).toBe("replica-token\n");
  });

  test("refuses a file with a second hard link, and does not truncate it", ({ tmpDir }) => {
    const { ws, secret } = setup(tmpDir);
    linkSync(secret, join(ws, "prd.json"));
    expect(() => readWorkspaceFile(ws, "prd.json")).toThrow(/another hard link/);
    expect(() => writeWorkspaceFile(ws, "prd.json", "{}")).toThrow(/another hard link/);
    expect(readFileSync(secret, "utf8")).toBe("replica-token\n");
  });

  test("refuses a directory or a file over the bound", ({ tmpDir }) => {
    const { ws } = setup(tmpDir);
    writeFileSync(join(ws, "big"), "x".repeat(100));
    expect(() => readWorkspaceFile(ws, "big", 10)).toThrow(/larger than 10 bytes/);
    expect(() => readWorkspaceFile(ws, "docs")).toThrow(/not a regular file/);
  });
});
