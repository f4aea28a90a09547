import { AgentRunnerError, pingRunner } from "@smith/agents";
import {
  ConstantBackoff,
  ExponentialBackoff,
  TimeoutStrategy,
  handleType,
  handleWhen,
  retry,
  timeout,
} from "cockatiel";

/** The tRPC error code of a failed call, if the server answered. */
export function errorCode(err: unknown): string | undefined {
  return (err as { data?: { code?: string } } | undefined)?.data?.code;
}

/**
 * Whether a failed API call may succeed if sent again unchanged: the API was unreachable
 * (restarting, network), overloaded, or etcd was briefly away. Answers like CONFLICT (a newer
 * attempt), BAD_REQUEST or FORBIDDEN are final. The one place the replica decides this.
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
 * One try of an API call may take this long: a half-open connection to an API that stopped
 * answering must not hang the attempt. The abandoned call is harmless because every call sent
 * through these policies is idempotent on the server (see withRetry).
 */
const CALL_TIMEOUT_MS = 60_000;

/**
 * Transient failures of replica→API calls are retried with exponential backoff from 200 ms to
 * 5 s, with decorrelated jitter (so replicas that lost the API together do not return together),
 * at most `maxAttempts` times and not after `deadline` (epoch ms).
 */
export function apiRetryPolicy(options: { maxAttempts?: number; deadline?: number } = {}) {
  const deadline = options.deadline ?? Infinity;
  return retry(
    handleWhen((err) => isTransient(err) && Date.now() < deadline),
    {
      maxAttempts: options.maxAttempts ?? Infinity,
      backoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: 5_000 }),
    },
  );
}

/**
 * Bounds one try. Not linked to the caller's signal: an attempt being stopped still lets the
 * call in flight finish (a recorded iteration or a handoff is worth keeping).
 */
export const perTryTimeout = timeout(CALL_TIMEOUT_MS, TimeoutStrategy.Aggressive);

/**
 * Runs an API call, retrying transient failures for up to `totalMs` (default 2 minutes). Every
 * call wrapped here is idempotent on the server: recordIteration ignores an iteration already
 * recorded, handoffs replace, acks remove ids, finalize of a finished loop is refused as
 * CONFLICT/PRECONDITION_FAILED. After the last try the last error is thrown as it was.
 */
export async function withRetry<T>(
  call: () => Promise<T>,
  options: { totalMs?: number; signal?: AbortSignal; onRetry?: (err: unknown, attempt: number) => void } = {},
): Promise<T> {
  const policy = apiRetryPolicy({ deadline: Date.now() + (options.totalMs ?? 120_000) });
  const { onRetry } = options;
  const listener = onRetry
    ? policy.onRetry((r) => {
        if ("error" in r) onRetry(r.error, r.attempt);
      })
    : undefined;
  try {
    return await policy.execute(() => perTryTimeout.execute(() => call()), options.signal);
  } finally {
    listener?.dispose();
  }
}

/**
 * Waits for the agent runner (the Pod's agent sidecar, started just before the replica's
 * container) to answer, every 100 ms for up to `totalMs`; then throws its last AgentRunnerError.
 * The replica waits rather than the kubelet (a startup probe runs at most once a second, which
 * added a second to every Pod's start).
 */
export async function waitForRunner(socketPath: string, totalMs = 60_000): Promise<{ uid: number; gid: number }> {
  const deadline = Date.now() + totalMs;
  const policy = retry(
    handleType(AgentRunnerError, () => Date.now() < deadline),
    { maxAttempts: Math.ceil(totalMs / 100) + 1, backoff: new ConstantBackoff(100) },
  );
  return policy.execute(() => pingRunner(socketPath, 5_000));
}
