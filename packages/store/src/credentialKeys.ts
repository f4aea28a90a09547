import { SmithError } from "@smith/core";
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { z } from "zod";

/** A value sealed with AES-256-GCM under one credentials key. */
export const SealedValue = z.object({
  alg: z.literal("aes-256-gcm"),
  /** Which key sealed it (a fingerprint, never the key). */
  keyId: z.string().min(1).max(64),
  /** 96-bit random nonce, one per seal: GCM's security rests on never reusing one under a key. */
  nonce: z.string().min(1).max(64),
  ciphertext: z.string().max(64 * 1024),
  tag: z.string().min(1).max(64),
});
export type SealedValue = z.infer<typeof SealedValue>;

const KEY_BYTES = 32;
const NONCE_BYTES = 12;

interface Key {
  id: string;
  bytes: Buffer;
}

/**
 * A credentials key from its text: 64 hex digits or base64 / base64url of 32 bytes (what
 * `openssl rand -base64 32` and `smith up` produce). The error names the variable, never the key.
 */
export function parseCredentialsKey(text: string, field = "SMITH_CREDENTIALS_KEY"): Buffer {
  const t = text.trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) bytes = Buffer.from(t, "hex");
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) bytes = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new SmithError(
      "invalid_argument",
      `${field} must be ${KEY_BYTES} bytes as 64 hex digits or base64 (e.g. \`openssl rand -base64 32\`)`,
      { field, limit: KEY_BYTES },
    );
  }
  return bytes;
}

/** A key's public fingerprint: stored beside each sealed value so that rotation knows what to re-seal. */
export function credentialsKeyId(bytes: Buffer): string {
  return createHash("sha256").update("smith credentials key id\0").update(bytes).digest("hex").slice(0, 16);
}

export function generateCredentialsKey(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

/**
 * The API's credentials keys: the primary seals, every key opens what it sealed, so that
 * SMITH_CREDENTIALS_KEY can be rotated (new primary, old ones kept until every record is
 * re-sealed). The additional data binds a sealed value to its record (name and type): a value
 * copied onto another record does not open.
 */
export class CredentialKeyring {
  private readonly keys: Key[];

  constructor(primary: Buffer, previous: readonly Buffer[] = []) {
    this.keys = [primary, ...previous].map((bytes) => {
      if (bytes.length !== KEY_BYTES)
        throw new SmithError("invalid_argument", `a credentials key must be ${KEY_BYTES} bytes`, {
          field: "SMITH_CREDENTIALS_KEY",
          limit: KEY_BYTES,
        });
      return { id: credentialsKeyId(bytes), bytes: Buffer.from(bytes) };
    });
  }

  static fromText(primary: string, previous: readonly string[] = []): CredentialKeyring {
    return new CredentialKeyring(
      parseCredentialsKey(primary),
      previous.map((p) => parseCredentialsKey(p, "SMITH_CREDENTIALS_PREVIOUS_KEYS")),
    );
  }

  get primaryId(): string {
    const primary = this.keys[0];
    if (!primary) throw new SmithError("internal", "the keyring has no key");
    return primary.id;
  }

  seal(plaintext: string, aad: string): SealedValue {
    const key = this.keys[0];
    if (!key) throw new SmithError("internal", "the keyring has no key");
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key.bytes, nonce);
    cipher.setAAD(Buffer.from(aad, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return {
      alg: "aes-256-gcm",
      keyId: key.id,
      nonce: nonce.toString("base64"),
      ciphertext: ciphertext.toString("base64"),
      tag: cipher.getAuthTag().toString("base64"),
    };
  }

  /** Opens a sealed value; a missing key or a failed authentication is a typed error without details. */
  open(sealed: SealedValue, aad: string, field = "credential"): string {
    const key = this.keys.find((k) => k.id === sealed.keyId);
    if (!key) {
      throw new SmithError(
        "unavailable",
        `${field} is sealed with credentials key ${sealed.keyId}, which this API does not have (add it to SMITH_CREDENTIALS_PREVIOUS_KEYS)`,
        { field, keyId: sealed.keyId },
      );
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key.bytes, Buffer.from(sealed.nonce, "base64"));
      decipher.setAAD(Buffer.from(aad, "utf8"));
      decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
      return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, "base64")), decipher.final()]).toString(
        "utf8",
      );
    } catch {
      // The cause is dropped on purpose: nothing about the key or the plaintext leaves here.
      throw new SmithError("internal", `${field} does not decrypt: the record was altered or copied`, { field });
    }
  }

  has(keyId: string): boolean {
    return this.keys.some((k) => k.id === keyId);
  }
}
