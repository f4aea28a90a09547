import { parseCredentialsKey } from "@smith/store";
import { tmpDirTest as test } from "@smith/testing";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { loadOrCreateSecrets } from "./secrets.ts";

describe("loadOrCreateSecrets", () => {
  test("generates the signing key, admin token and credentials key once, readable by the owner only", ({ tmpDir }) => {
    const first = loadOrCreateSecrets(tmpDir);
    expect(parseCredentialsKey(first.credentialsKey)).toHaveLength(32);
    for (const file of ["signing-key", "admin-token", "credentials-key"])
      expect(statSync(join(tmpDir, "secrets", file)).mode & 0o777).toBe(0o600);
    expect(statSync(join(tmpDir, "secrets")).mode & 0o777).toBe(0o700);
    expect(loadOrCreateSecrets(tmpDir)).toEqual(first);
  });
});
