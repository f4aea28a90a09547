import { newId } from "@smith/core";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * API tokens for people and programs: `smt.<id>.<secret>`. Only the SHA-256 of the whole string
 * is stored; the id finds the record without scanning.
 */
export const API_TOKEN_PREFIX = "smt";
/** The id under which a configured bootstrap admin token (any string) is stored. */
export const BOOTSTRAP_TOKEN_ID = "bootstrap-admin";

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function generateApiToken(): { id: string; token: string } {
  const id = newId();
  return { id, token: `${API_TOKEN_PREFIX}.${id}.${randomBytes(32).toString("base64url")}` };
}

/** Which stored record a presented token would be (a bootstrap token has no id of its own). */
export function tokenRecordId(token: string): string {
  const parts = token.split(".");
  if (parts.length === 3 && parts[0] === API_TOKEN_PREFIX && parts[1]) return parts[1];
  return BOOTSTRAP_TOKEN_ID;
}

export function hashMatches(token: string, hash: string): boolean {
  const a = Buffer.from(hashToken(token), "hex");
  const b = Buffer.from(hash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A random signing key (base64url, 48 bytes of entropy) for local stacks that have none configured. */
export function generateSigningKey(): string {
  return randomBytes(48).toString("base64url");
}
