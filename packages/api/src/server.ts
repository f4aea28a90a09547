import { RateLimiter } from "./rateLimit.ts";
import { EXEC_LIMITS } from "./routers/loops.ts";
import type { ReplicaInspector } from "@smith/core";
import { SmithError, isSmithError } from "@smith/core";
import type { SmithStore } from "@smith/store";
import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AuditRecorder } from "./audit.ts";
import { Authenticator } from "./authenticator.ts";
import { bearerToken, createContext } from "./context.ts";
import { localClient } from "./localClient.ts";
import { isSubscriptionRequest, serveSubscription } from "./sse.ts";
import { createLogger, type Logger } from "@smith/logger";
import { ApiMetrics } from "./metrics.ts";
import { CredentialOperations } from "./operations/credentials.ts";
import {
  KubernetesCredentialBackend,
  type CredentialSecretStore,
  type KubernetesCredentialBackendOptions,
} from "./credentials/kubernetesBackend.ts";
import { LoopOperations } from "./operations/loops.ts";
import { ReplicaOperations } from "./operations/replica.ts";
import { appRouter, type AppRouter } from "./root.ts";
import type { TRPCClient } from "@trpc/client";
import type { ApiServices } from "./services.ts";
import { DEFAULT_MAX_BUFFERED, type CredentialKeyring } from "@smith/store";
import { GitHubIngress } from "./github/ingress.ts";
import { GitHubClients, resolveGitHubOptions, type GitHubOptions, type GitHubTokenSource } from "./github/options.ts";
import { FlatlineOutbox, type FlatlineOutboxOptions } from "./github/flatlineOutbox.ts";
import { GitHubPoller } from "./github/poller.ts";
import { GitHubPublisher } from "./github/publisher.ts";
import { handleGitHubWebhook } from "./github/webhook.ts";

export interface ApiServerOptions {
  store: SmithStore;
  /** Key for replica tokens (at least 32 bytes), shared with the schedulers. */
  signingKey: string;
  /** Stored (hashed) as the bootstrap admin token on start. */
  adminToken?: string;
  /** How long a token record read from etcd is trusted, i.e. how soon a revocation made through another API process takes effect here (default 5 s). */
  authCacheMs?: number;
  /** Replica lock TTL (default 30 s). */
  lockTtlMs?: number;
  /** Largest request body (default 8 MiB: a batch of loops with inline PRDs). */
  maxBodyBytes?: number;
  /** Events a subscription may buffer before its subscriber must resume (default 10,000). */
  subscriptionBuffer?: number;
  /**
   * Replicas this API process can read (loops.runtime's process details, loops.replicaLog): a
   * LocalReplicaInspector on the local executor's state dir when both run on one machine.
   */
  replicaInspectors?: ReplicaInspector[];
  logger?: Logger;
  /** Seals credential values at rest (SMITH_CREDENTIALS_KEY); without it credentials cannot be stored or used. */
  credentialsKeyring?: CredentialKeyring;
  /**
   * The kubernetes credentials backend (SMITH_CREDENTIALS_BACKEND=kubernetes): new values are kept
   * in Kubernetes Secrets through this store, metadata in etcd. Default: sealed in etcd.
   */
  credentialSecrets?: CredentialSecretStore;
  /** Options of the kubernetes backend (how old an unfinished write must be to be rolled back). */
  credentialSecretsOptions?: KubernetesCredentialBackendOptions;
  /** GitHub's REST base URL for minting App installation tokens (default https://api.github.com). */
  githubApiUrl?: string;
  /** Accept file://, local-path and plain-http repositories (default false; `smith up` and tests set it). */
  allowLocalRepos?: boolean;
  /** Node's default process metrics in /metrics (default true; tests turn them off). */
  defaultMetrics?: boolean;
  /** GitHub: the webhook secret, the label, the API URL and token source (see GitHubOptions). */
  github?: GitHubOptions;
  /** How the source issues of flatlined loops are told (how often the outbox is read, backoff). */
  githubOutbox?: FlatlineOutboxOptions;
  /**
   * Serves MCP over streamable HTTP at /mcp (`handleMcpHttp` from @smith/mcp; the composition
   * root passes it, so that this package does not depend on the MCP SDK). The caller's bearer
   * token is checked here; the handler gets a client that acts with it.
   */
  mcp?: McpHttpHandler;
  /**
   * Who writes SSE subscriptions: "smith" (default), the API's own writer in tRPC's wire format
   * (sse.ts), or "trpc", tRPC's HTTP handler (kept for the wire-format test and as a fallback).
   */
  sseWriter?: "smith" | "trpc";
  /** Longest pause between two tries while start() waits for etcd (default 5 s). */
  maxEtcdWaitDelayMs?: number;
}

export type McpHttpHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  client: TRPCClient<AppRouter>,
) => Promise<void>;

export type ApiServerState = "created" | "starting" | "running" | "draining" | "stopped";

/**
 * The API process: tRPC under /trpc (HTTP batching for queries and mutations, SSE for
 * subscriptions), /healthz, /readyz (etcd reachable) and /metrics.
 */
export class ApiServer {
  readonly services: ApiServices;
  private readonly options: ApiServerOptions;
  private readonly server: Server;
  private stateValue: ApiServerState = "created";
  /** Aborted by stop(): ends start()'s wait for etcd. */
  private readonly stopping = new AbortController();
  /** Polls the configured repositories for labeled issues (none without `github.poll`). */
  private readonly poller: GitHubPoller | undefined;

  constructor(options: ApiServerOptions) {
    this.options = options;
    const log = options.logger ?? createLogger({ component: "api" });
    const auth = new Authenticator({
      store: options.store,
      signingKey: options.signingKey,
      cacheMs: options.authCacheMs,
    });
    const credentials = new CredentialOperations(options.store, {
      keyring: options.credentialsKeyring,
      kubernetes: options.credentialSecrets
        ? new KubernetesCredentialBackend(options.store, options.credentialSecrets, options.credentialSecretsOptions)
        : undefined,
      githubApiUrl: options.githubApiUrl ?? options.github?.apiUrl,
    });
    const audit = new AuditRecorder(options.store, log);
    const loops = new LoopOperations(options.store, { credentials, allowLocalRepos: options.allowLocalRepos });
    const apiUrl = options.github?.apiUrl ?? options.githubApiUrl;
    const webHost = resolveGitHubOptions({ apiUrl }).webHosts[0] ?? "github.com";
    // A configured token wins; else the git credential (PAT or App installation token) that
    // the credentials store picks for the repository, as for the replica's clone and push.
    const fromCredentials: GitHubTokenSource = async (repo) =>
      (await credentials.gitCredential(`https://${webHost}/${repo.owner}/${repo.name}.git`))?.token;
    const github = resolveGitHubOptions({ ...options.github, apiUrl, token: options.github?.token ?? fromCredentials });
    const githubClients = new GitHubClients(github);
    const githubPublisher = new GitHubPublisher({ options: github, store: options.store, clients: githubClients });
    this.services = {
      store: options.store,
      auth,
      audit,
      loops,
      github: new GitHubIngress({ options: github, store: options.store, loops, audit, clients: githubClients }),
      githubClients,
      githubPublisher,
      githubOutbox: new FlatlineOutbox({
        store: options.store,
        publisher: githubPublisher,
        log,
        options: options.githubOutbox,
      }),
      replica: new ReplicaOperations(options.store, { lockTtlMs: options.lockTtlMs, credentials }),
      credentials,
      metrics: new ApiMetrics(options.store, { defaultMetrics: options.defaultMetrics }),
      log,
      subscriptionBuffer: options.subscriptionBuffer ?? DEFAULT_MAX_BUFFERED,
      replicaInspectors: options.replicaInspectors ?? [],
      execLimiter: new RateLimiter({ max: EXEC_LIMITS.perMinute, windowMs: 60_000 }),
    };
    this.poller = options.github?.poll?.repos.length
      ? new GitHubPoller({
          ingress: this.services.github,
          store: options.store,
          audit,
          log,
          options: options.github.poll,
        })
      : undefined;
    const trpc = createHTTPHandler({
      router: appRouter,
      basePath: "/trpc/",
      maxBodySize: options.maxBodyBytes ?? 8 * 1024 * 1024,
      createContext: ({ req }) => createContext(this.services, req),
      onError: ({ error, path }) => {
        if (error.code === "INTERNAL_SERVER_ERROR") log.error({ path, err: error.cause ?? error }, "procedure failed");
      },
    });
    this.server = createServer((req, res) => {
      void this.route(req, res, trpc);
    });
    // SSE subscriptions are long-lived: no request timeout, but keep idle sockets bounded.
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = 65_000;
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    trpc: (req: IncomingMessage, res: ServerResponse) => void,
  ): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path === "/healthz") return text(res, 200, "ok\n");
      if (path === "/readyz") {
        const ready = this.stateValue === "running" && (await this.options.store.ping());
        return text(res, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
      }
      if (path === "/metrics") {
        const body = await this.services.metrics.registry.metrics();
        res.writeHead(200, { "content-type": this.services.metrics.registry.contentType });
        res.end(body);
        return;
      }
      if (path?.startsWith("/trpc/")) {
        if (this.options.sseWriter !== "trpc" && req.method === "GET") {
          const url = new URL(req.url ?? "/", "http://api");
          const procedure = path.slice("/trpc/".length);
          if (await isSubscriptionRequest(req, procedure, url))
            return await serveSubscription(this.services, req, res, procedure, url);
        }
        return trpc(req, res);
      }
      if (path === "/webhooks/github")
        return await handleGitHubWebhook(req, res, {
          ingress: this.services.github,
          store: this.services.store,
          audit: this.services.audit,
          log: this.services.log,
        });
      if (path === "/mcp" && this.options.mcp) return await this.mcp(req, res, this.options.mcp);
      text(res, 404, "not found\n");
    } catch (err) {
      this.services.log.error({ path, err }, "request failed");
      if (!res.headersSent) text(res, 500, "internal error\n");
      else res.destroy();
    }
  }

  /** Refuses a request without a valid token at the door (401, as MCP's HTTP auth expects). */
  private async mcp(req: IncomingMessage, res: ServerResponse, handler: McpHttpHandler): Promise<void> {
    const token = bearerToken(req);
    const result = token ? await this.services.auth.authenticate(token) : { message: "a bearer token is required" };
    if (!("principal" in result)) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="smith"' });
      res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: result.message }, id: null }));
      return;
    }
    await handler(req, res, localClient(this.services, req));
  }

  get state(): ApiServerState {
    return this.stateValue;
  }

  /**
   * Binds (port 0 picks a free port), then waits for etcd with backoff, as long as it takes (the
   * API may start before etcd, or during an etcd restart), and stores the bootstrap admin token.
   * Meanwhile /healthz answers and /readyz says not ready. A stop() during the wait ends it;
   * start() then resolves with the server stopped.
   */
  async start(options: { port?: number; host?: string } = {}): Promise<{ url: string; port: number }> {
    if (this.stateValue !== "created") throw new Error(`cannot start an API server that is ${this.stateValue}`);
    this.stateValue = "starting";
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const address = { url: this.url, port: this.port };
    try {
      await this.waitForEtcd();
    } catch (err) {
      if (this.stopping.signal.aborted) return address;
      throw err;
    }
    if (this.stopping.signal.aborted) return address;
    this.stateValue = "running";
    this.poller?.start();
    this.services.githubOutbox.start();
    return address;
  }

  /** Retries only what a wait can fix (etcd unreachable); a bad admin token fails at once. */
  private async waitForEtcd(): Promise<void> {
    const policy = retry(
      handleWhen((err) => isSmithError(err, "unavailable")),
      {
        maxAttempts: Number.POSITIVE_INFINITY,
        backoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: this.options.maxEtcdWaitDelayMs ?? 5_000 }),
      },
    );
    const listener = policy.onRetry((r) => {
      if ("error" in r) this.services.log.warn({ err: r.error, delayMs: r.delay }, "etcd unreachable; waiting");
    });
    try {
      await policy.execute(async () => {
        if (!(await this.options.store.ping())) throw new SmithError("unavailable", "etcd does not answer");
        if (this.options.adminToken) await this.services.auth.bootstrap(this.options.adminToken);
      }, this.stopping.signal);
    } finally {
      listener.dispose();
    }
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  get url(): string {
    const addr = this.server.address() as AddressInfo | null;
    const host =
      !addr || addr.address === "::" || addr.address === "0.0.0.0"
        ? "127.0.0.1"
        : addr.address.includes(":")
          ? `[${addr.address}]`
          : addr.address;
    return `http://${host}:${addr?.port ?? 0}`;
  }

  /** Stops accepting, ends open subscriptions, and waits for in-flight calls (at most `graceMs`). */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.stateValue === "stopped" || this.stateValue === "created") {
      this.stateValue = "stopped";
      return;
    }
    this.stateValue = "draining";
    this.stopping.abort();
    await this.poller?.stop();
    await this.services.githubOutbox.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    // Subscriptions never finish by themselves: give them a moment, then cut them.
    setTimeout(() => this.server.closeAllConnections(), Math.min(graceMs, 500)).unref();
    await closed;
    clearTimeout(timer);
    this.stateValue = "stopped";
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
}
