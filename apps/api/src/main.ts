#!/usr/bin/env node
import { ApiServer, type CredentialSecretStore } from "@smith/api";
import type { ReplicaInspector } from "@smith/core";
import { createLogger } from "@smith/logger";
import { handleMcpHttp } from "@smith/mcp";
import { etcdTlsFromEnv } from "@smith/env";
import { CredentialKeyring, SmithStore, plainTextEndpoints } from "@smith/store";
import { type ApiEnv, parseEnv } from "./env.ts";

/** The API process: parse env, build the store and server, start, and stop in order on a signal. */
async function main(): Promise<void> {
  const env = parseEnv(process.env);
  const log = createLogger({ component: "api", level: env.SMITH_LOG_LEVEL });
  const githubToken = env.SMITH_GITHUB_TOKEN;
  const tls = etcdTlsFromEnv(env);
  const store = new SmithStore({ endpoints: env.SMITH_ETCD_ENDPOINTS, prefix: env.SMITH_ETCD_PREFIX, tls });
  const plain = plainTextEndpoints(env.SMITH_ETCD_ENDPOINTS);
  if (plain.length && !tls)
    log.warn(
      { etcd: plain },
      "etcd over plain HTTP: anyone who reaches it can read and rewrite every loop; set SMITH_ETCD_CA/CERT/KEY",
    );
  const credentialSecrets = env.SMITH_CREDENTIALS_BACKEND === "kubernetes" ? await kubernetesSecrets(env) : undefined;
  const replicaInspectors =
    env.SMITH_EXECUTOR === "kubernetes" && env.SMITH_REPLICA_ACCESS !== "none" ? [await kubernetesReplicas(env)] : [];
  for (const inspector of replicaInspectors)
    log.info(
      { instance: inspector.instance, access: env.SMITH_REPLICA_ACCESS },
      "replica access: the Pods of the Kubernetes executor's namespace",
    );
  if (credentialSecrets)
    log.info({ namespace: credentialSecrets.namespace }, "credentials backend: Kubernetes Secrets, metadata in etcd");
  const server = new ApiServer({
    store,
    signingKey: env.SMITH_SIGNING_KEY,
    adminToken: env.SMITH_ADMIN_TOKEN,
    lockTtlMs: env.SMITH_LOCK_TTL_MS,
    allowLocalRepos: env.SMITH_ALLOW_LOCAL_REPOS,
    logger: log,
    credentialsKeyring: env.SMITH_CREDENTIALS_KEY
      ? CredentialKeyring.fromText(env.SMITH_CREDENTIALS_KEY, env.SMITH_CREDENTIALS_PREVIOUS_KEYS)
      : undefined,
    credentialSecrets,
    replicaInspectors,
    githubApiUrl: env.SMITH_GITHUB_API_URL,
    github: {
      webhookSecret: env.SMITH_GITHUB_WEBHOOK_SECRET,
      label: env.SMITH_GITHUB_LABEL,
      apiUrl: env.SMITH_GITHUB_API_URL,
      token: githubToken ? async () => githubToken : undefined,
      loopTemplate: env.SMITH_GITHUB_LOOP_TEMPLATE,
      poll: { repos: env.SMITH_GITHUB_POLL_REPOS, intervalMs: env.SMITH_GITHUB_POLL_INTERVAL_S * 1000 },
    },
    mcp: handleMcpHttp,
  });
  if (!env.SMITH_CREDENTIALS_KEY && !credentialSecrets)
    log.warn("no SMITH_CREDENTIALS_KEY: credentials cannot be stored, and loops that need one will fail");
  if (!env.SMITH_ADMIN_TOKEN) log.warn("no SMITH_ADMIN_TOKEN: only tokens already stored in etcd can call the API");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    await server.stop();
    store.close();
    log.info("stopped");
    process.exit(0);
  };
  // Before start(): it waits for etcd as long as it takes, and a SIGTERM meanwhile must end it.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  const { url } = await server.start({ port: env.SMITH_API_PORT, host: env.SMITH_API_HOST });
  if (server.state === "running")
    log.info({ url, etcd: env.SMITH_ETCD_ENDPOINTS, prefix: env.SMITH_ETCD_PREFIX }, "listening, etcd ready");
}

/** The Kubernetes client's configuration: KUBECONFIG, or the Pod's ServiceAccount. */
async function kubeConfigOf(env: ApiEnv) {
  // Loaded only here: the Kubernetes client is large, and an API without Kubernetes does not need it.
  const { loadKubeConfig } = await import("@smith/executor/kubernetes");
  return loadKubeConfig(
    env.KUBECONFIG
      ? { type: "file", path: env.KUBECONFIG.split(":")[0] ?? env.KUBECONFIG, context: env.SMITH_KUBE_CONTEXT }
      : { type: "in-cluster", host: env.KUBERNETES_SERVICE_HOST ?? "", port: env.KUBERNETES_SERVICE_PORT },
  );
}

/** The credential Secrets of SMITH_CREDENTIALS_BACKEND=kubernetes. */
async function kubernetesSecrets(env: ApiEnv): Promise<CredentialSecretStore> {
  const { KubernetesCredentialSecrets } = await import("@smith/executor/kubernetes");
  const namespace = env.SMITH_CREDENTIALS_NAMESPACE;
  if (!namespace) throw new Error("SMITH_CREDENTIALS_NAMESPACE is required when SMITH_CREDENTIALS_BACKEND=kubernetes");
  return new KubernetesCredentialSecrets({ kubeConfig: await kubeConfigOf(env), namespace });
}

/** The replica Pods of SMITH_EXECUTOR=kubernetes, for loops.runtime, loops.replicaLog and (SMITH_REPLICA_ACCESS=exec) loops.exec. */
async function kubernetesReplicas(env: ApiEnv): Promise<ReplicaInspector> {
  const { KubernetesReplicaInspector } = await import("@smith/executor/kubernetes");
  const namespace = env.SMITH_K8S_NAMESPACE;
  if (!namespace) throw new Error("SMITH_K8S_NAMESPACE is required when SMITH_EXECUTOR=kubernetes");
  return new KubernetesReplicaInspector({
    kubeConfig: await kubeConfigOf(env),
    namespace,
    labels: env.SMITH_REPLICA_LABELS,
    exec: env.SMITH_REPLICA_ACCESS === "exec",
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`smith-api: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
