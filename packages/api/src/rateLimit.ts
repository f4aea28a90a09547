import { SmithError } from "@smith/core";

/**
 * A sliding-window limit per key (a token), in this API process's memory: with several API
 * replicas a caller gets the limit once per replica it reaches. Enough to stop a runaway script;
 * not a quota.
 */
export class RateLimiter {
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly seen = new Map<string, number[]>();

  constructor(options: { max: number; windowMs: number; now?: () => number }) {
    this.max = options.max;
    this.windowMs = options.windowMs;
    this.now = options.now ?? Date.now;
  }

  /** Counts one call of `key`, or throws `rate_limited` naming the limit and when to retry. */
  take(key: string, what: string): void {
    const now = this.now();
    const recent = (this.seen.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (recent.length >= this.max) {
      const retryAfterMs = this.windowMs - (now - (recent[0] ?? now));
      this.seen.set(key, recent);
      throw new SmithError(
        "rate_limited",
        `${what} is limited to ${this.max} calls per ${this.windowMs / 1000} s per token; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
        { limit: this.max, windowMs: this.windowMs, retryAfterMs },
      );
    }
    recent.push(now);
    this.seen.set(key, recent);
    // Forget idle keys so that the map stays as small as the set of active callers.
    if (this.seen.size > 10_000)
      for (const [k, v] of this.seen) if (v.every((t) => now - t >= this.windowMs)) this.seen.delete(k);
  }
}
