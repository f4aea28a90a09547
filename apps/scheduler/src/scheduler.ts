import type { Logger } from "@smith/logger";
import { mintReplicaToken } from "@smith/auth";
import { isSmithError, newId, type Executor, type VersionedLoop } from "@smith/core";
import type { ClaimOptions, Session, SmithStore } from "@smith/store";
import { WatchStream } from "@smith/store";
import type { Campaign } from "etcd3";
import { Reconciler } from "./reconciler.ts";

export interface SchedulerOptions {
  store: SmithStore;
  executor: Executor;
  /** Signs replica tokens (shared with the API). */
  signingKey: string;
  id?: string;
  claim?: ClaimOptions;
  /** Session lease TTL (default 10 s): a dead scheduler's claims vanish this long after it died. */
  sessionTtlSeconds?: number;
  /** The queue is re-read at least this often (retry backoffs expire without a queue event). */
  pollIntervalMs?: number;
  reconcileIntervalMs?: number;
  startGraceMs?: number;
  retryBackoffMs?: number;
  /** Finished loops are purged this long after they finished (off when absent). */
  retentionMs?: number;
  log: Logger;
}

export type SchedulerState = "created" | "starting" | "running" | "draining" | "stopped";

/**
 * One scheduler process: holds one etcd lease (its session), watches the queue, claims loops
 * and starts their replicas through the executor. One scheduler at a time (etcd election) also
 * runs the reconciler. Replicas are not stopped when a scheduler stops: they outlive it.
 */
export class Scheduler {
  readonly id: string;
  private readonly o: SchedulerOptions;
  private stateValue: SchedulerState = "created";
  private session: Session | undefined;
  private queueWatch: WatchStream | undefined;
  private wake: (() => void) | undefined;
  private dirty = true;
  private claimLoop: Promise<void> | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private campaign: Campaign | undefined;
  private leader = false;
  private reconciling: Promise<unknown> | undefined;
  readonly reconciler: Reconciler;

  constructor(options: SchedulerOptions) {
    this.o = options;
    this.id = options.id ?? `scheduler-${newId()}`;
    this.reconciler = new Reconciler({
      store: options.store,
      executor: options.executor,
      startGraceMs: options.startGraceMs ?? 60_000,
      retryBackoffMs: options.retryBackoffMs ?? 5_000,
      log: options.log,
      retentionMs: options.retentionMs,
    });
  }

  get state(): SchedulerState {
    return this.stateValue;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  async start(): Promise<void> {
    if (this.stateValue !== "created") throw new Error(`cannot start a scheduler that is ${this.stateValue}`);
    this.stateValue = "starting";
    await this.openSession();
    this.watchQueue();
    this.stateValue = "running";
    this.claimLoop = this.runClaimLoop();
    this.campaignForReconciler();
    this.o.log.info("scheduler started", { id: this.id, executor: this.o.executor.kind });
  }

  private async openSession(): Promise<void> {
    const session = await this.o.store.openSession({
      id: this.id,
      ttlSeconds: this.o.sessionTtlSeconds ?? 10,
      info: { pid: process.pid, executor: this.o.executor.kind },
    });
    session.once("lost", () => {
      if (this.stateValue !== "running") return;
      this.o.log.warn("session lease lost; opening a new one", { id: this.id });
      // Claims of the old lease are gone; the reconciler retries their loops if no replica started.
      void this.reopen();
    });
    this.session = session;
  }

  private async reopen(): Promise<void> {
    for (let delay = 500; this.stateValue === "running"; delay = Math.min(delay * 2, 10_000)) {
      try {
        await this.openSession();
        this.poke();
        return;
      } catch (err) {
        this.o.log.warn("could not open a session", { error: err instanceof Error ? err.message : String(err) });
        await sleep(delay);
      }
    }
  }

  private watchQueue(): void {
    const stream = new WatchStream(this.o.store.client, { prefix: this.o.store.keys.queuePrefix(), maxBuffered: 1000 });
    this.queueWatch = stream;
    void (async () => {
      try {
        for await (const item of stream) {
          if (item.type !== "delete") this.poke();
        }
      } catch {
        // The poll interval keeps claiming going; re-establish the watch.
        if (this.stateValue === "running") setTimeout(() => this.stateValue === "running" && this.watchQueue(), 1000);
      }
    })();
  }

  /** Something may be claimable: wake the claim loop. */
  poke(): void {
    this.dirty = true;
    this.wake?.();
  }

  private async runClaimLoop(): Promise<void> {
    const poll = this.o.pollIntervalMs ?? 2_000;
    while (this.stateValue === "running") {
      if (!this.dirty) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, poll);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
      this.dirty = false;
      if (this.stateValue !== "running") break;
      try {
        for (;;) {
          const session = this.session;
          if (!session || session.state !== "running" || this.stateValue !== "running") break;
          const claimed = await this.o.store.claims.claimNext(session, this.o.claim);
          if (!claimed) break;
          await this.launch(claimed);
        }
      } catch (err) {
        this.o.log.error("claiming failed", { error: err instanceof Error ? err.message : String(err) });
        await sleep(500);
        this.dirty = true;
      }
    }
  }

  private async launch({ loop }: VersionedLoop): Promise<void> {
    const { store, executor } = this.o;
    const attempt = loop.status.attempt;
    const ttlSeconds = Math.ceil(loop.spec.limits.timeoutMs / 1000) + 3600;
    const token = mintReplicaToken(this.o.signingKey, { loopId: loop.id, attempt, ttlSeconds });
    try {
      const handle = await executor.start({ loop, attempt, token });
      await store.loops.transition(loop.id, { type: "replicaStarted", attempt, handle, at: new Date().toISOString() });
      await store.journal.append(loop.id, [
        {
          phase: "scheduled",
          actor: { type: "scheduler", id: this.id },
          message: `attempt ${attempt} scheduled on ${handle.kind} executor (${handle.id})`,
          metadata: { executor: handle, attempt },
        },
      ]);
      this.o.log.info("replica started", { loopId: loop.id, attempt, handle: handle.id });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.o.log.error("replica start failed", { loopId: loop.id, attempt, error: message });
      await store.journal
        .append(loop.id, [
          {
            phase: "scheduled",
            level: "error",
            actor: { type: "scheduler", id: this.id },
            message: `starting attempt ${attempt} failed: ${message}`,
          },
        ])
        .catch(() => undefined);
      if (!isSmithError(err, "invalid_transition") && !isSmithError(err, "stale_attempt")) {
        await store.loops
          .transition(loop.id, {
            type: "replicaLost",
            attempt,
            backoffMs: this.o.retryBackoffMs ?? 5_000,
            message: `replica start failed: ${message}`,
            at: new Date().toISOString(),
          })
          .catch(() => undefined);
      }
    }
  }

  private campaignForReconciler(): void {
    // Inside the installation's prefix: `<prefix>/election/reconciler/<lease>`.
    const election = this.o.store.client
      .namespace(this.o.store.keys.root + "/")
      .election("reconciler", this.o.sessionTtlSeconds ?? 10);
    const campaign = election.campaign(this.id);
    this.campaign = campaign;
    campaign.on("elected", () => {
      this.leader = true;
      this.o.log.info("elected reconciler", { id: this.id });
      const tick = () => {
        if (!this.leader || this.stateValue !== "running") return;
        this.reconciling = this.reconcileNow()
          .catch((err: unknown) =>
            this.o.log.error("reconcile pass failed", { error: err instanceof Error ? err.message : String(err) }),
          )
          .finally(() => {
            if (this.leader && this.stateValue === "running")
              this.reconcileTimer = setTimeout(tick, this.o.reconcileIntervalMs ?? 5_000);
          });
      };
      tick();
    });
    campaign.on("error", (err) => {
      this.leader = false;
      this.o.log.warn("reconciler election lost", { error: err.message });
      if (this.stateValue === "running")
        setTimeout(() => this.stateValue === "running" && this.campaignForReconciler(), 1000);
    });
  }

  /** One reconcile pass (the leader runs them periodically; tests call it directly). */
  async reconcileNow(): Promise<void> {
    const report = await this.reconciler.runOnce();
    if (
      report.retried.length ||
      report.flatlined.length ||
      report.timedOut.length ||
      report.stopped.length ||
      report.purged.length
    )
      this.o.log.info("reconciled", { ...report });
    if (report.retried.length || report.slotsReleased) this.poke();
  }

  /** Stops claiming, resigns leadership and releases the lease. Replicas keep running. */
  async stop(): Promise<void> {
    if (this.stateValue === "stopped" || this.stateValue === "created") {
      this.stateValue = "stopped";
      return;
    }
    this.stateValue = "draining";
    this.wake?.();
    this.queueWatch?.close();
    if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
    await this.claimLoop?.catch(() => undefined);
    await this.reconciling?.catch(() => undefined);
    this.leader = false;
    await this.campaign?.resign().catch(() => undefined);
    await this.session?.close();
    this.stateValue = "stopped";
    this.o.log.info("scheduler stopped", { id: this.id });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
