import { SCHEMA_VERSION } from "@smith/core";
import { etcdTest as test, gatewayGet, gatewayPut } from "@smith/testing";
import { createHash } from "node:crypto";
import { describe, expect } from "vitest";
import { testStore } from "./testSupport.ts";
import type { TokenRecord, TokenRole } from "./tokens.ts";

function token(id: string, role: TokenRole = "viewer", extra: Partial<TokenRecord> = {}): TokenRecord {
  return {
    schemaVersion: SCHEMA_VERSION,
    id,
    name: `token ${id}`,
    role,
    hash: createHash("sha256").update(`smith_${id}_secret`).digest("hex"),
    createdAt: "2024-05-01T00:00:00.000Z",
    createdBy: "admin",
    ...extra,
  };
}

describe("tokens", () => {
  test("create, get and list; a duplicate id is already_exists and leaves the first in place", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      expect(await store.tokens.list()).toEqual([]);
      expect(await store.tokens.get("t1")).toBeUndefined();
      const t1 = await store.tokens.create(token("t1", "operator", { expiresAt: "2030-01-01T00:00:00.000Z" }));
      const t2 = await store.tokens.create(token("t2", "admin"));
      expect(await store.tokens.get("t1")).toEqual(t1);

      const dup = store.tokens.create(token("t1", "admin", { name: "impostor" }));
      await expect(dup).rejects.toMatchObject({ code: "already_exists", details: { field: "id" } });
      expect(await store.tokens.get("t1")).toEqual(t1);
      expect(await store.tokens.list()).toEqual([t1, t2]);
      // Only the hash is stored, never the token.
      expect(await gatewayGet(etcdEndpoint, store.keys.token("t1"))).not.toContain("smith_t1_secret");

      // put creates or replaces (the bootstrap admin token follows its configuration).
      await store.tokens.put({ ...t2, name: "renamed" });
      expect((await store.tokens.get("t2"))?.name).toBe("renamed");
    } finally {
      store.close();
    }
  });

  test("revoke stamps revokedAt once (revoking again keeps it); an unknown id is not_found", async ({
    etcdEndpoint,
    prefix,
  }) => {
    let now = new Date("2024-06-01T12:00:00.000Z");
    const store = testStore(etcdEndpoint, prefix, { now: () => now });
    try {
      await store.tokens.create(token("t1"));
      const revoked = await store.tokens.revoke("t1");
      expect(revoked).toMatchObject({ id: "t1", revokedAt: "2024-06-01T12:00:00.000Z" });
      expect(await store.tokens.get("t1")).toEqual(revoked);
      now = new Date("2024-06-02T12:00:00.000Z");
      expect((await store.tokens.revoke("t1")).revokedAt).toBe("2024-06-01T12:00:00.000Z");
      await expect(store.tokens.revoke("nope")).rejects.toMatchObject({ code: "not_found", details: { field: "id" } });
      expect(await store.tokens.get("nope")).toBeUndefined();
      expect((await store.tokens.list()).map((t) => t.id)).toEqual(["t1"]);
    } finally {
      store.close();
    }
  });

  test("a stored value with an unknown schemaVersion is unsupported_schema_version naming the key", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      await store.tokens.create(token("ok"));
      const key = store.keys.token("future");
      await gatewayPut(etcdEndpoint, key, JSON.stringify({ ...token("future"), schemaVersion: 99 }));
      const expected = {
        code: "unsupported_schema_version",
        details: { field: key, version: 99, supported: SCHEMA_VERSION },
      };
      await expect(store.tokens.get("future")).rejects.toMatchObject(expected);
      await expect(store.tokens.list()).rejects.toMatchObject(expected);
      // Revoking it must not overwrite a value this build cannot read.
      await expect(store.tokens.revoke("future")).rejects.toMatchObject(expected);
      expect(JSON.parse((await gatewayGet(etcdEndpoint, key)) ?? "{}")).toMatchObject({ schemaVersion: 99 });
      expect(await store.tokens.get("ok")).toMatchObject({ id: "ok" });
    } finally {
      store.close();
    }
  });
});
