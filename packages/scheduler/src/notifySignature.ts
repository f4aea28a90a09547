import { createHmac, timingSafeEqual } from "node:crypto";

/** The header carrying a notification's signature: `sha256=<hex HMAC-SHA256 of the raw body>`. */
export const SIGNATURE_HEADER = "x-smith-signature";
/** The header carrying when the notification was signed, in Unix seconds (also `sentAt` in the signed body). */
export const TIMESTAMP_HEADER = "x-smith-timestamp";

/** `sha256=<hex>`: HMAC-SHA256 of the exact bytes sent, keyed with SMITH_NOTIFY_SECRET. */
export function signNotification(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`;
}

/** Whether `signature` (the header's value) signs `rawBody` with `secret`; constant-time. */
export function verifyNotification(secret: string, rawBody: string | Buffer, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = Buffer.from(signNotification(secret, rawBody));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
