#!/usr/bin/env node
import { jsonLogger } from "@smith/logger";
import { LocalProcessExecutor } from "@smith/executor";
import { SmithStore } from "@smith/store";
import { parseEnv, replicaEnv } from "./env.ts";
import { Scheduler } from "./scheduler.ts";

/** A scheduler process: claims loops and starts replicas; SIGTERM stops claiming, releases the lease, exits. */
async function main(): Promise<void> {
  const log = jsonLogger("scheduler");
  const env = parseEnv(process.env);
  if (env.SMITH_EXECUTOR === "kubernetes") throw new Error("SMITH_EXECUTOR=kubernetes: the Kubernetes Job executor is not part of this build yet");
  const store = new SmithStore({ endpoints: env.SMITH_ETCD_ENDPOINTS, prefix: env.SMITH_ETCD_PREFIX });
  const executor = new LocalProcessExecutor({ stateDir: env.SMITH_STATE_DIR, command: env.SMITH_REPLICA_COMMAND, env: replicaEnv(process.env, env.SMITH_API_URL) });
  const scheduler = new Scheduler({
    store,
    executor,
    signingKey: env.SMITH_SIGNING_KEY,
    claim: { maxRunning: env.SMITH_MAX_RUNNING, perKeyLimit: env.SMITH_CONCURRENCY_PER_KEY, keyLimits: env.SMITH_CONCURRENCY_KEYS },
    sessionTtlSeconds: env.SMITH_SESSION_TTL_S,
    pollIntervalMs: env.SMITH_POLL_INTERVAL_MS,
    reconcileIntervalMs: env.SMITH_RECONCILE_INTERVAL_MS,
    startGraceMs: env.SMITH_START_GRACE_MS,
    retryBackoffMs: env.SMITH_RETRY_BACKOFF_MS,
    log,
  });
  await scheduler.start();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    await scheduler.stop();
    store.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`smith-scheduler: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
