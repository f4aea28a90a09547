#!/usr/bin/env node
import type { Executor } from "@smith/core";
import { createServer, type Server } from "node:http";
import { createLogger, type Logger } from "@smith/logger";
import { LocalProcessExecutor, replicaEnv } from "@smith/executor";
import { etcdTlsFromEnv } from "@smith/env";
import { SmithStore, plainTextEndpoints } from "@smith/store";
import { Scheduler } from "@smith/scheduler";
import { kubernetesExecutorOptions, parseEnv, retentionPolicy, type SchedulerEnv } from "./env.ts";

/** The executor named by SMITH_EXECUTOR, and how to release it on shutdown. */
async function buildExecutor(
  env: SchedulerEnv,
  log: Logger,
): Promise<{ executor: Executor; close: () => Promise<void> }> {
  if (env.SMITH_EXECUTOR === "local") {
    const executor = new LocalProcessExecutor({
      stateDir: env.SMITH_STATE_DIR,
      command: env.SMITH_REPLICA_COMMAND,
      env: replicaEnv(process.env, env.SMITH_API_URL),
      ...(env.SMITH_AGENT_USER
        ? { workRoot: env.SMITH_AGENT_WORK_ROOT, agentUsers: env.SMITH_AGENT_USER.split(",") }
        : {}),
    });
    return { executor, close: async () => undefined };
  }
  // Loaded only here: the Kubernetes client is large, and the local executor does not need it.
  const { KubernetesJobExecutor, loadKubeConfig } = await import("@smith/executor/kubernetes");
  const { source, options } = kubernetesExecutorOptions(env, process.env);
  const executor = new KubernetesJobExecutor({
    ...options,
    kubeConfig: loadKubeConfig(source),
    onWatchError: (err) => log.warn({ err }, "replica Job watch failed; reading Jobs directly until it is back"),
  });
  log.info(
    {
      namespace: options.namespace,
      image: options.image,
      kubeconfig: source.type === "file" ? source.path : "in-cluster",
    },
    "kubernetes executor",
  );
  return { executor, close: () => executor.close() };
}

/**
 * /healthz (the process is up and not stopped) and /readyz (claiming: the scheduler runs with
 * its etcd session) for the kubelet's probes.
 */
function healthServer(scheduler: Scheduler, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const state = scheduler.state;
    const ok = path === "/healthz" ? state !== "stopped" : path === "/readyz" ? state === "running" : undefined;
    if (ok === undefined) {
      res.writeHead(404).end("not found\n");
      return;
    }
    res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(`${state}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** A scheduler process: claims loops and starts replicas; SIGTERM stops claiming, releases the lease, exits. */
async function main(): Promise<void> {
  const env = parseEnv(process.env);
  const log = createLogger({ component: "scheduler", level: env.SMITH_LOG_LEVEL });
  const { executor, close: closeExecutor } = await buildExecutor(env, log);
  const tls = etcdTlsFromEnv(env);
  const store = new SmithStore({ endpoints: env.SMITH_ETCD_ENDPOINTS, prefix: env.SMITH_ETCD_PREFIX, tls });
  const plain = plainTextEndpoints(env.SMITH_ETCD_ENDPOINTS);
  if (plain.length && !tls)
    log.warn(
      { etcd: plain },
      "etcd over plain HTTP: anyone who reaches it can read and rewrite every loop; set SMITH_ETCD_CA/CERT/KEY",
    );
  const scheduler = new Scheduler({
    store,
    executor,
    signingKey: env.SMITH_SIGNING_KEY,
    claim: {
      maxRunning: env.SMITH_MAX_RUNNING,
      perKeyLimit: env.SMITH_CONCURRENCY_PER_KEY,
      keyLimits: env.SMITH_CONCURRENCY_KEYS,
      ...(env.SMITH_BUDGET_PER_KEY_USD_PER_DAY !== undefined
        ? { budgetPerKeyUsdPerDay: env.SMITH_BUDGET_PER_KEY_USD_PER_DAY }
        : {}),
    },
    sessionTtlSeconds: env.SMITH_SESSION_TTL_S,
    pollIntervalMs: env.SMITH_POLL_INTERVAL_MS,
    reconcileIntervalMs: env.SMITH_RECONCILE_INTERVAL_MS,
    startGraceMs: env.SMITH_START_GRACE_MS,
    retryBackoffMs: env.SMITH_RETRY_BACKOFF_MS,
    retention: retentionPolicy(env),
    // Always on: a loop's own spec.notify.urls need a notifier even when SMITH_NOTIFY_URLS is empty.
    notify: {
      urls: env.SMITH_NOTIFY_URLS,
      ...(env.SMITH_NOTIFY_SECRET ? { secret: env.SMITH_NOTIFY_SECRET } : {}),
      maxAttempts: env.SMITH_NOTIFY_MAX_ATTEMPTS,
    },
    log,
  });
  // Up before start(): while it waits for etcd, /healthz answers (alive) and /readyz says not ready.
  const health =
    env.SMITH_HEALTH_PORT === undefined
      ? undefined
      : await healthServer(scheduler, env.SMITH_HEALTH_HOST, env.SMITH_HEALTH_PORT);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    await scheduler.stop();
    health?.close();
    await closeExecutor();
    store.close();
    process.exit(0);
  };
  // Before start(): it waits for etcd as long as it takes, and a SIGTERM meanwhile must end it.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  await scheduler.start();
}

main().catch((err: unknown) => {
  process.stderr.write(`smith-scheduler: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
