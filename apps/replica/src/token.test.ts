import { tmpDirTest as test } from "@smith/testing";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { takeReplicaToken } from "./token.ts";

describe("takeReplicaToken", () => {
  test("reads SMITH_TOKEN_FILE, trims it and removes the file", ({ tmpDir }) => {
    const file = join(tmpDir, "token");
    writeFileSync(file, "smr.abc\n", { mode: 0o600 });
    expect(takeReplicaToken({ SMITH_TOKEN_FILE: file, SMITH_TOKEN: "ignored" })).toEqual({
      token: "smr.abc",
      source: "file",
      removed: true,
    });
    expect(existsSync(file)).toBe(false);
  });

  test("a file it cannot remove (a read-only mount) is still read", ({ tmpDir }) => {
    const dir = join(tmpDir, "ro");
    mkdirSync(dir);
    writeFileSync(join(dir, "token"), "smr.ro");
    chmodSync(dir, 0o500);
    try {
      const taken = takeReplicaToken({ SMITH_TOKEN_FILE: join(dir, "token") });
      expect(taken.token).toBe("smr.ro");
      // root may remove it anyway; anyone else may not.
      expect(taken.removed).toBe(!existsSync(join(dir, "token")));
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  test("SMITH_TOKEN is the fallback; nothing at all, a missing or an empty file are errors naming the variable", ({
    tmpDir,
  }) => {
    expect(takeReplicaToken({ SMITH_TOKEN: "smr.env" })).toEqual({ token: "smr.env", source: "env", removed: false });
    expect(() => takeReplicaToken({})).toThrow(/SMITH_TOKEN_FILE/);
    expect(() => takeReplicaToken({ SMITH_TOKEN_FILE: join(tmpDir, "missing") })).toThrow(
      /SMITH_TOKEN_FILE: cannot read .*missing \(ENOENT\)/,
    );
    writeFileSync(join(tmpDir, "empty"), "\n");
    expect(() => takeReplicaToken({ SMITH_TOKEN_FILE: join(tmpDir, "empty") })).toThrow(/is empty/);
  });
});
