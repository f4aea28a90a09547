import type { ReplicaInspector } from "@smith/core";
import type { SmithStore } from "@smith/store";
import type { AuditRecorder } from "./audit.ts";
import type { RateLimiter } from "./rateLimit.ts";
import type { Authenticator } from "./authenticator.ts";
import type { Logger } from "@smith/logger";
import type { ApiMetrics } from "./metrics.ts";
import type { CredentialOperations } from "./operations/credentials.ts";
import type { LoopOperations } from "./operations/loops.ts";
import type { ReplicaOperations } from "./operations/replica.ts";
import type { GitHubIngress } from "./github/ingress.ts";
import type { GitHubClients } from "./github/options.ts";
import type { GitHubPublisher } from "./github/publisher.ts";
import type { FlatlineOutbox } from "./github/flatlineOutbox.ts";

/** What the routers reach through their context. Built once per API process. */
export interface ApiServices {
  store: SmithStore;
  auth: Authenticator;
  audit: AuditRecorder;
  loops: LoopOperations;
  /** Issues in (webhook, poller, CLI) and /smith commands. */
  github: GitHubIngress;
  /** GitHub API clients per repository (pull requests out, permission checks). */
  githubClients: GitHubClients;
  /** Pull requests out at synced; the source issue's comments. */
  githubPublisher: GitHubPublisher;
  /** Tells the source issues of flatlined loops (the outbox the transitions write). */
  githubOutbox: FlatlineOutbox;
  replica: ReplicaOperations;
  credentials: CredentialOperations;
  metrics: ApiMetrics;
  log: Logger;
  /** Events a subscription may buffer before the subscriber is told to resume (bounded memory). */
  subscriptionBuffer: number;
  /** Replicas this process can inspect (see ApiServerOptions.replicaInspectors). */
  replicaInspectors: ReplicaInspector[];
  /** loops.exec calls per token (EXEC_LIMITS.perMinute a minute). */
  execLimiter: RateLimiter;
}
