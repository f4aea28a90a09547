import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CredentialKeyring, credentialsKeyId, generateCredentialsKey, parseCredentialsKey } from "./credentialKeys.ts";

describe("CredentialKeyring", () => {
  const secret = `ghp_${randomBytes(16).toString("hex")}`;

  it("seals with a fresh nonce each time and opens only under the same record binding", () => {
    const ring = new CredentialKeyring(randomBytes(32));
    const a = ring.seal(secret, "smith-credential:v1:a:github-token");
    const b = ring.seal(secret, "smith-credential:v1:a:github-token");
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(JSON.stringify(a)).not.toContain(secret);
    expect(ring.open(a, "smith-credential:v1:a:github-token")).toBe(secret);
    // Copied onto another record (name or type), or altered: refused, saying nothing about the value.
    expect(() => ring.open(a, "smith-credential:v1:b:github-token")).toThrow(/does not decrypt/);
    const flipped = Buffer.from(a.ciphertext, "base64");
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(() =>
      ring.open({ ...a, ciphertext: flipped.toString("base64") }, "smith-credential:v1:a:github-token"),
    ).toThrow(/does not decrypt/);
  });

  it("opens values sealed by a previous key and seals with the primary", () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const sealed = new CredentialKeyring(oldKey).seal(secret, "x");
    const ring = new CredentialKeyring(newKey, [oldKey]);
    expect(ring.open(sealed, "x")).toBe(secret);
    expect(ring.seal(secret, "x").keyId).toBe(credentialsKeyId(newKey));
    expect(() => new CredentialKeyring(newKey).open(sealed, "x", "credential a")).toThrow(
      `credential a is sealed with credentials key ${credentialsKeyId(oldKey)}`,
    );
  });

  it("parses hex, base64 and base64url keys of 32 bytes, naming the variable and never the key", () => {
    const bytes = randomBytes(32);
    expect(parseCredentialsKey(bytes.toString("hex"))).toEqual(bytes);
    expect(parseCredentialsKey(bytes.toString("base64"))).toEqual(bytes);
    expect(parseCredentialsKey(` ${bytes.toString("base64url")}\n`)).toEqual(bytes);
    expect(parseCredentialsKey(generateCredentialsKey())).toHaveLength(32);
    const short = randomBytes(16).toString("base64");
    expect(() => parseCredentialsKey(short)).toThrow(/SMITH_CREDENTIALS_KEY must be 32 bytes/);
    try {
      parseCredentialsKey(short);
    } catch (err) {
      expect(String(err)).not.toContain(short);
    }
    expect(credentialsKeyId(bytes)).toMatch(/^[0-9a-f]{16}$/);
    expect(credentialsKeyId(bytes)).not.toContain(bytes.toString("hex").slice(0, 16));
  });
});
