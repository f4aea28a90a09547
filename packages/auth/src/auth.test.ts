import { describe, expect, it } from "vitest";
import { generateApiToken, hashMatches, hashToken, tokenRecordId, BOOTSTRAP_TOKEN_ID } from "./apiToken.ts";
import { mintReplicaToken, verifyReplicaToken } from "./replicaToken.ts";
import { roleAtLeast } from "./roles.ts";

const KEY = "k".repeat(32);
const LOOP = "01jz0000000000000000000000";

describe("replica tokens", () => {
  it("round-trips loop id, attempt and expiry", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const token = mintReplicaToken(KEY, { loopId: LOOP, attempt: 3, ttlSeconds: 60, now });
    expect(verifyReplicaToken(KEY, token, now)).toEqual({ loopId: LOOP, attempt: 3, exp: now.getTime() / 1000 + 60 });
  });

  it("refuses an expired token, a tampered payload, another key and garbage", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const token = mintReplicaToken(KEY, { loopId: LOOP, attempt: 1, ttlSeconds: 60, now });
    expect(() => verifyReplicaToken(KEY, token, new Date(now.getTime() + 61_000))).toThrow(/expired/);
    const [p, payload, sig] = token.split(".");
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload ?? "", "base64url").toString()), a: 9 }),
    ).toString("base64url");
    expect(() => verifyReplicaToken(KEY, `${p}.${forged}.${sig}`, now)).toThrow(/signature/);
    expect(() => verifyReplicaToken("x".repeat(32), token, now)).toThrow(/signature/);
    expect(() => verifyReplicaToken(KEY, "smr.nope", now)).toThrow(/malformed/);
  });

  it("refuses short signing keys, naming the limit", () => {
    expect(() => mintReplicaToken("short", { loopId: LOOP, attempt: 1, ttlSeconds: 1 })).toThrow(/at least 32 bytes/);
  });
});

describe("API tokens", () => {
  it("are stored by hash and found by id", () => {
    const { id, token } = generateApiToken();
    expect(tokenRecordId(token)).toBe(id);
    expect(hashMatches(token, hashToken(token))).toBe(true);
    expect(hashMatches(token + "x", hashToken(token))).toBe(false);
    expect(tokenRecordId("any configured string")).toBe(BOOTSTRAP_TOKEN_ID);
  });

  it("roles include the ones below them", () => {
    expect(roleAtLeast("admin", "operator")).toBe(true);
    expect(roleAtLeast("operator", "viewer")).toBe(true);
    expect(roleAtLeast("viewer", "operator")).toBe(false);
  });
});
