/**
 * Domain errors. One string-literal union of codes, mapped exhaustively at each boundary
 * (the API turns them into TRPCError in one place, the CLI into exit codes).
 */
export const ERROR_CODES = [
  "invalid_argument",
  "not_found",
  "conflict",
  "already_exists",
  "too_large",
  "unsupported_schema_version",
  "invalid_transition",
  "stale_attempt",
  "unauthenticated",
  "forbidden",
  "unavailable",
  /** A valid request this installation cannot serve (yet): the message names what is missing. */
  "not_supported",
  /** Too many calls of a rate-limited kind: `details.retryAfterMs` says when to try again. */
  "rate_limited",
  "internal",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorIssue {
  /** Dotted path of the offending field, e.g. `spec.limits.maxIterations`. */
  path: string;
  message: string;
}

export interface SmithErrorDetails {
  /** The field the error is about, when there is one. */
  field?: string;
  /** The limit that was exceeded (bytes, items, ...), when there is one. */
  limit?: number;
  /** The actual size or count that exceeded `limit`. */
  actual?: number;
  issues?: ErrorIssue[];
  [key: string]: unknown;
}

export class SmithError extends Error {
  readonly code: ErrorCode;
  readonly details: SmithErrorDetails;
  /** A recoverable error may succeed when retried unchanged (lost race, etcd unavailable). */
  readonly recoverable: boolean;

  constructor(code: ErrorCode, message: string, details: SmithErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SmithError";
    this.code = code;
    this.details = details;
    this.recoverable = code === "conflict" || code === "unavailable";
  }
}

export function isSmithError(err: unknown, code?: ErrorCode): err is SmithError {
  return err instanceof SmithError && (code === undefined || err.code === code);
}

export function assertNever(value: never, what = "value"): never {
  throw new SmithError("internal", `unexpected ${what}: ${JSON.stringify(value)}`);
}

/** A size-limit error that names the field and the limit. */
export function tooLarge(field: string, limit: number, actual: number, unit = "bytes"): SmithError {
  return new SmithError("too_large", `${field} is ${actual} ${unit}; the limit is ${limit} ${unit}`, {
    field,
    limit,
    actual,
  });
}

/** Byte length of a string as UTF-8, without node:buffer (core is pure). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** A zod issue path in the one style Smith uses everywhere: `items[1].spec.repo.url`. */
export function issuePath(path: readonly PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
