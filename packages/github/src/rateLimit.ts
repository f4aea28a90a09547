/** What GitHub's `x-ratelimit-*` and `retry-after` headers said on the latest answer. */
export interface RateLimitState {
  limit?: number;
  remaining?: number;
  /** When the window resets (from `x-ratelimit-reset`, epoch seconds). */
  resetAt?: Date;
  /** A secondary limit's `retry-after`, as an absolute time. */
  retryAfter?: Date;
  /** The resource the numbers are for (`graphql`, `core`, ...). */
  resource?: string;
}

function int(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** Reads the rate-limit headers of one response; absent headers stay undefined. */
export function parseRateLimit(headers: Headers, now: Date = new Date()): RateLimitState {
  const reset = int(headers.get("x-ratelimit-reset"));
  const retryAfter = int(headers.get("retry-after"));
  return {
    limit: int(headers.get("x-ratelimit-limit")),
    remaining: int(headers.get("x-ratelimit-remaining")),
    resetAt: reset === undefined ? undefined : new Date(reset * 1000),
    retryAfter: retryAfter === undefined ? undefined : new Date(now.getTime() + retryAfter * 1000),
    resource: headers.get("x-ratelimit-resource") ?? undefined,
  };
}

/**
 * The time before which no call should be made, or undefined when calls may go out now.
 * GitHub asks clients to wait for `retry-after` when given, else until the reset when nothing
 * remains in the window.
 */
export function blockedUntil(state: RateLimitState | undefined, now: Date = new Date()): Date | undefined {
  if (!state) return undefined;
  if (state.retryAfter && state.retryAfter > now) return state.retryAfter;
  if (state.remaining === 0 && state.resetAt && state.resetAt > now) return state.resetAt;
  return undefined;
}
