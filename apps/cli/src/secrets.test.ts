import { parseCredentialsKey } from "@smith/store";
import { tmpDirTest as test } from "@smith/testing";
import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { loadOrCreateSecrets } from "./secrets.ts";

describe("loadOrCreateSecrets", () => {
  test("generates the signing key, admin token, credentials key and notification secret once, readable by the owner only", ({
    tmpDir,
  }) => {
    const first = loadOrCreateSecrets(tmpDir);
    expect(parseCredentialsKey(first.credentialsKey)).toHaveLength(32);
    expect(Buffer.from(first.notifySecret, "base64url")).toHaveLength(32);
    for (const file of ["signing-key", "admin-token", "credentials-key", "notify-secret"])
      expect(statSync(join(tmpDir, "secrets", file)).mode & 0o777).toBe(0o600);
    expect(statSync(join(tmpDir, "secrets")).mode & 0o777).toBe(0o700);
    expect(loadOrCreateSecrets(tmpDir)).toEqual(first);
  });

  test("files and a directory made readable by others (a copy, a backup, an old version) are made private on load", ({
    tmpDir,
  }) => {
    const dir = join(tmpDir, "secrets");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "admin-token"), "smith-admin-restored\n", { mode: 0o644 });
    chmodSync(join(dir, "admin-token"), 0o644);
    const secrets = loadOrCreateSecrets(tmpDir);
    expect(secrets.adminToken).toBe("smith-admin-restored");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of ["signing-key", "admin-token", "credentials-key", "notify-secret"])
      expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
  });
});
