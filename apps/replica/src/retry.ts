/** The tRPC error code of a failed call, if the server answered. */
export function errorCode(err: unknown): string | undefined {
  return (err as { data?: { code?: string } } | undefined)?.data?.code;
}

/**
 * Whether a failed API call may succeed if sent again unchanged: the API was unreachable
 * (restarting, network), overloaded, or etcd was briefly away. Answers like CONFLICT (a newer
 * attempt), BAD_REQUEST or FORBIDDEN are final.
 */
export function isTransient(err: unknown): boolean {
  const code = errorCode(err);
  if (code === undefined) return true;
  return (
    code === "SERVICE_UNAVAILABLE" ||
    code === "INTERNAL_SERVER_ERROR" ||
    code === "TIMEOUT" ||
    code === "TOO_MANY_REQUESTS" ||
    code === "BAD_GATEWAY" ||
    code === "GATEWAY_TIMEOUT"
  );
}

/**
 * Runs an API call, retrying transient failures with capped exponential backoff for up to
 * `totalMs` (default 2 minutes). Every call wrapped here is idempotent on the
 * server: recordIteration ignores an iteration already recorded, handoffs replace, acks remove
 * ids, finalize of a finished loop is refused as CONFLICT/PRECONDITION_FAILED.
 */
export async function withRetry<T>(
  call: () => Promise<T>,
  options: { totalMs?: number; signal?: AbortSignal; onRetry?: (err: unknown, attempt: number) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (options.totalMs ?? 120_000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isTransient(err) || Date.now() >= deadline || options.signal?.aborted) throw err;
      options.onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** (attempt - 1), 5_000)));
    }
  }
}
