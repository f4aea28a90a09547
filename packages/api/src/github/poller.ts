import { isSmithError } from "@smith/core";
import type { RepoRef } from "@smith/github";
import type { Logger } from "@smith/logger";
import type { SmithStore } from "@smith/store";
import { randomUUID } from "node:crypto";
import type { AuditRecorder } from "../audit.ts";
import { githubPrincipal, type GitHubIngress } from "./ingress.ts";
import type { GitHubPollOptions } from "./options.ts";

/** Smallest poll interval: GitHub's rate limit is per hour, and an issue waits no longer than this. */
const MIN_POLL_INTERVAL_MS = 10_000;

/**
 * Issues in, for installations GitHub cannot reach with webhooks: every `intervalMs`, each
 * configured repository's open issues with the label become loops (`GitHubIngress.ingestRepository`,
 * the same loops and idempotency keys as the webhook's). Every API process runs a poller; a poll
 * slot in etcd per repository (`polls/github:<owner>/<repo>`) makes one of them poll it per
 * interval. When GitHub answers with its rate limit, the slot moves to the reset time GitHub gave,
 * so no process asks again before it.
 */
export class GitHubPoller {
  private readonly ingress: GitHubIngress;
  private readonly store: SmithStore;
  private readonly audit: AuditRecorder;
  private readonly log: Logger;
  private readonly repos: RepoRef[];
  private readonly intervalMs: number;
  private readonly id = `api-${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(deps: {
    ingress: GitHubIngress;
    store: SmithStore;
    audit: AuditRecorder;
    log: Logger;
    options: GitHubPollOptions;
  }) {
    this.ingress = deps.ingress;
    this.store = deps.store;
    this.audit = deps.audit;
    this.log = deps.log.child({ component: "github-poller" });
    this.repos = deps.options.repos;
    this.intervalMs = Math.max(MIN_POLL_INTERVAL_MS, deps.options.intervalMs ?? 60_000);
  }

  start(): void {
    if (this.timer || this.repos.length === 0) return;
    // Checking the slots is cheap (one etcd get per repository): check often, poll once per interval.
    const every = Math.min(5_000, this.intervalMs / 2);
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass: every repository that is due and whose slot this process wins. */
  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    for (const repo of this.repos) {
      const name = `github:${repo.owner}/${repo.name}`;
      try {
        if (!(await this.store.polls.take(name, this.intervalMs, this.id))) continue;
        const correlationId = randomUUID();
        const results = await this.ingress.ingestRepository(repo, githubPrincipal("poller"), correlationId);
        const created = results.filter((r) => r.outcome.kind === "loop-created");
        // Like the webhook's deliveries: each loop the poller makes is audited.
        for (const r of created)
          await this.audit.record({
            actor: { type: "api", id: "github-poller" },
            action: "github.poll",
            loopId: "loopId" in r.outcome ? r.outcome.loopId : undefined,
            outcome: "ok",
            correlationId,
            details: { issue: r.ref, poller: this.id },
          });
        this.log.info(
          { repo: `${repo.owner}/${repo.name}`, issues: results.length, created: created.length, correlationId },
          "polled",
        );
      } catch (err) {
        const retryAt = isSmithError(err) ? err.details.retryAt : undefined;
        if (typeof retryAt === "string" && !Number.isNaN(Date.parse(retryAt))) {
          await this.store.polls.defer(name, new Date(retryAt), this.id).catch(() => undefined);
          this.log.warn({ repo: `${repo.owner}/${repo.name}`, retryAt }, "GitHub's rate limit: next poll at its reset");
        } else {
          this.log.warn({ repo: `${repo.owner}/${repo.name}`, err }, "poll failed; the next interval tries again");
        }
      }
    }
  }
}
