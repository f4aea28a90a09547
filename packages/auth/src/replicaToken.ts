import { ID_PATTERN, SmithError } from "@smith/core";
import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Replica tokens: signed, scoped to one loop and one attempt, and expiring. The scheduler mints
 * one per attempt with the signing key it shares with the API; the API verifies it without a
 * lookup. Format: `smr.<base64url JSON payload>.<base64url HMAC-SHA256>`.
 */
export interface ReplicaClaims {
  loopId: string;
  attempt: number;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

const PREFIX = "smr";
/** Signing keys shorter than this are refused: an HMAC key must not be guessable. */
export const MIN_SIGNING_KEY_BYTES = 32;

function checkKey(key: string | Buffer): Buffer {
  const bytes = typeof key === "string" ? Buffer.from(key, "utf8") : key;
  if (bytes.length < MIN_SIGNING_KEY_BYTES) {
    throw new SmithError(
      "invalid_argument",
      `the signing key must be at least ${MIN_SIGNING_KEY_BYTES} bytes, got ${bytes.length}`,
      {
        field: "signingKey",
        limit: MIN_SIGNING_KEY_BYTES,
        actual: bytes.length,
      },
    );
  }
  return bytes;
}

function sign(key: Buffer, payload: string): string {
  return createHmac("sha256", key).update(`${PREFIX}.${payload}`).digest("base64url");
}

export function mintReplicaToken(
  key: string | Buffer,
  claims: { loopId: string; attempt: number; ttlSeconds: number; now?: Date },
): string {
  const k = checkKey(key);
  const now = claims.now ?? new Date();
  const payload = Buffer.from(
    JSON.stringify({
      l: claims.loopId,
      a: claims.attempt,
      e: Math.floor(now.getTime() / 1000) + claims.ttlSeconds,
      v: 1,
    }),
  ).toString("base64url");
  return `${PREFIX}.${payload}.${sign(k, payload)}`;
}

export function isReplicaToken(token: string): boolean {
  return token.startsWith(`${PREFIX}.`);
}

/** Verifies signature and expiry. Throws `unauthenticated` (never says which part was wrong). */
export function verifyReplicaToken(key: string | Buffer, token: string, now: Date = new Date()): ReplicaClaims {
  const k = checkKey(key);
  const parts = token.split(".");
  const bad = (why: string) => new SmithError("unauthenticated", `invalid replica token: ${why}`);
  if (parts.length !== 3 || parts[0] !== PREFIX) throw bad("malformed");
  const [, payload = "", signature = ""] = parts;
  const expected = Buffer.from(sign(k, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw bad("bad signature");
  let claims: { l?: unknown; a?: unknown; e?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as typeof claims;
  } catch {
    throw bad("malformed");
  }
  if (
    typeof claims.l !== "string" ||
    !ID_PATTERN.test(claims.l) ||
    typeof claims.a !== "number" ||
    typeof claims.e !== "number"
  ) {
    throw bad("malformed");
  }
  if (claims.e * 1000 <= now.getTime()) throw new SmithError("unauthenticated", "the replica token has expired");
  return { loopId: claims.l, attempt: claims.a, exp: claims.e };
}
