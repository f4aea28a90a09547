import type { Logger } from "@smith/logger";
import { mintReplicaToken } from "@smith/auth";
import { isSmithError, newId, type Executor, type RetentionPolicyInput, type VersionedLoop } from "@smith/core";
import type {
  BudgetExceeded,
  ClaimOptions,
  Leadership,
  Session,
  SmithStore,
  WatchItem,
  WatchStream,
} from "@smith/store";
import { ExponentialBackoff, handleAll, retry, type RetryPolicy } from "cockatiel";
import { setTimeout as delay } from "node:timers/promises";
import { Notifier, type NotifierOptions } from "./notifier.ts";
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
  /**
   * While the queue watch is down, the queue is re-read this often (default 2 s). With a live
   * watch it is re-read on its events, when the earliest retry backoff seen expires, and every
   * 30 s as a safety net: an idle scheduler costs etcd almost nothing.
   */
  pollIntervalMs?: number;
  reconcileIntervalMs?: number;
  /** Stale slots, old spend and the retention sweep are checked this often (default 60 s). */
  maintenanceIntervalMs?: number;
  startGraceMs?: number;
  retryBackoffMs?: number;
  /** Finished loops and audit events are deleted under this policy by the reconciler (off when absent). */
  retention?: RetentionPolicyInput;
  /** Longest wait between two tries to reach etcd (session, queue watch); default 10 s. */
  maxReconnectDelayMs?: number;
  /**
   * Outbound webhooks for transitions into waiting, flatline and synced (see Notifier). Every
   * scheduler runs a notifier when this is given; the store's dedupe key makes one of them send.
   */
  notify?: Omit<NotifierOptions, "store" | "id" | "log">;
  log: Logger;
}

/** With a live queue watch, the queue is still re-read this often, in case an event was missed. */
const IDLE_REREAD_MS = 30_000;
/** An early reconcile pass (a claim record vanished under a running loop) waits this long, for the burst to settle. */
const EARLY_RECONCILE_MS = 250;

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
  private readonly stopping = new AbortController();
  /** Reaching etcd again (at start, after a lost lease or watch): backoff until it answers or we stop. */
  private readonly reconnect: RetryPolicy;
  private session: Session | undefined;
  private wake: (() => void) | undefined;
  private dirty = true;
  /** The queue watch is established: the claim loop may sleep until an event. */
  private queueWatchLive = false;
  private claimLoop: Promise<void> | undefined;
  private queueFollower: Promise<void> | undefined;
  private slotsFollower: Promise<void> | undefined;
  private claimsFollower: Promise<void> | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconcileInFlight = false;
  private reconcileAgain = false;
  private lastReconcileAt = 0;
  private leadership: Leadership | undefined;
  private leader = false;
  private reconciling: Promise<unknown> | undefined;
  readonly reconciler: Reconciler;
  private notifier: Notifier | undefined;
  /** Loops (per UTC day) already journaled as held back by their key's budget. */
  private readonly budgetNoted = new Set<string>();

  constructor(options: SchedulerOptions) {
    this.o = options;
    this.id = options.id ?? `scheduler-${newId()}`;
    this.reconciler = new Reconciler({
      store: options.store,
      executor: options.executor,
      startGraceMs: options.startGraceMs ?? 60_000,
      retryBackoffMs: options.retryBackoffMs ?? 5_000,
      log: options.log,
      retention: options.retention,
      maintenanceIntervalMs: options.maintenanceIntervalMs ?? 60_000,
    });
    this.reconnect = retry(handleAll, {
      maxAttempts: Number.POSITIVE_INFINITY,
      backoff: new ExponentialBackoff({ initialDelay: 500, maxDelay: options.maxReconnectDelayMs ?? 10_000 }),
    });
    this.reconnect.onRetry((r) => {
      if ("error" in r) this.o.log.warn({ id: this.id, err: r.error, delayMs: r.delay }, "etcd unreachable; retrying");
    });
  }

  get state(): SchedulerState {
    return this.stateValue;
  }

  /** Whether this scheduler is the elected reconciler now. */
  get elected(): boolean {
    return this.leader;
  }

  /**
   * Opens the session, waiting with backoff while etcd is unreachable (a scheduler may start
   * before etcd), then claims and campaigns. A stop() meanwhile ends the wait; start() then
   * resolves with the scheduler stopped.
   */
  async start(): Promise<void> {
    if (this.stateValue !== "created") throw new Error(`cannot start a scheduler that is ${this.stateValue}`);
    this.stateValue = "starting";
    try {
      await this.reconnect.execute(() => this.openSession(), this.stopping.signal);
    } catch (err) {
      if (this.stopping.signal.aborted) return;
      throw err;
    }
    if (this.stopping.signal.aborted) {
      // stop() came while the session was being opened: it found no session to close.
      await this.session?.close();
      return;
    }
    this.stateValue = "running";
    this.queueFollower = this.followQueue();
    this.slotsFollower = this.followSlots();
    this.claimsFollower = this.followClaims();
    this.claimLoop = this.runClaimLoop();
    this.campaignForReconciler();
    if (this.o.notify) {
      this.notifier = new Notifier({ ...this.o.notify, store: this.o.store, id: this.id, log: this.o.log });
      this.notifier.start();
    }
    this.o.log.info({ id: this.id, executor: this.o.executor.kind }, "scheduler started");
  }

  private async openSession(): Promise<void> {
    const session = await this.o.store.openSession({
      id: this.id,
      ttlSeconds: this.o.sessionTtlSeconds ?? 10,
      info: { pid: process.pid, executor: this.o.executor.kind },
    });
    session.once("lost", () => {
      if (this.stateValue !== "running") return;
      this.o.log.warn({ id: this.id }, "session lease lost; opening a new one");
      // Claims of the old lease are gone; the reconciler retries their loops if no replica started.
      void this.reconnect
        .execute(() => this.openSession(), this.stopping.signal)
        .then(() => this.poke())
        .catch(() => undefined);
    });
    this.session = session;
  }

  /**
   * Follows a watch until the scheduler stops: `onItem` for each event, `onReady` once etcd
   * confirms it; a watch that ends or fails is re-established with the reconnect backoff.
   */
  private async follow(
    what: string,
    open: () => WatchStream,
    onItem: (item: WatchItem) => void | Promise<void>,
    hooks: { onReady?: () => void; onEnd?: () => void } = {},
  ): Promise<void> {
    await this.reconnect
      .execute(async () => {
        const stream = open();
        const close = () => stream.close();
        this.stopping.signal.addEventListener("abort", close, { once: true });
        let ended = false;
        void stream.ready().then(() => {
          if (!ended) hooks.onReady?.();
        });
        try {
          for await (const item of stream) await onItem(item);
        } finally {
          ended = true;
          hooks.onEnd?.();
          this.stopping.signal.removeEventListener("abort", close);
        }
        if (!this.stopping.signal.aborted) throw new Error(`the ${what} watch ended`);
      }, this.stopping.signal)
      .catch(() => undefined);
  }

  /** Pokes the claim loop on every queue change. */
  private followQueue(): Promise<void> {
    return this.follow(
      "queue",
      () => this.o.store.claims.watchQueue({ maxBuffered: 1000 }),
      // A resync may have missed an enqueue; a delete frees nothing claimable.
      (item) => {
        if (item.type !== "delete") this.poke();
      },
      {
        onReady: () => {
          this.queueWatchLive = true;
          // Anything enqueued before the watch was up is found by one read now.
          this.poke();
        },
        // Meanwhile the poll interval keeps claiming going.
        onEnd: () => {
          this.queueWatchLive = false;
        },
      },
    );
  }

  /**
   * Pokes the claim loop when a slot is freed: a loop waiting for its key's limit (or the global
   * one) becomes claimable without any queue change, and would otherwise wait for the idle re-read.
   */
  private followSlots(): Promise<void> {
    return this.follow(
      "slots",
      () => this.o.store.claims.watchSlots({ maxBuffered: 1000 }),
      (item) => {
        if (item.type !== "put") this.poke();
      },
    );
  }

  /**
   * The elected reconciler follows claim records: one that vanishes while its loop still runs
   * that attempt with no replica recorded is a scheduler that died between claim and start (the
   * record lives on its session lease). A pass soon queues that loop again, within the lease TTL
   * and a second, instead of after the start grace.
   */
  private followClaims(): Promise<void> {
    const prefix = this.o.store.keys.claimsPrefix();
    return this.follow(
      "claims",
      () => this.o.store.claims.watchClaims({ maxBuffered: 1000 }),
      async (item) => {
        if (item.type !== "delete" || !this.leader) return;
        const loopId = item.kv.key.toString().slice(prefix.length);
        const current = await this.o.store.loops.get(loopId).catch(() => undefined);
        if (current?.loop.status.state === "running" && !current.loop.status.executor) this.reconcileSoon();
      },
    );
  }

  /** Something may be claimable: wake the claim loop. */
  poke(): void {
    this.dirty = true;
    this.wake?.();
  }

  private async runClaimLoop(): Promise<void> {
    const poll = this.o.pollIntervalMs ?? 2_000;
    let backoffExpiry: number | undefined;
    while (this.stateValue === "running") {
      if (!this.dirty) {
        const wait = this.queueWatchLive
          ? Math.max(50, Math.min(IDLE_REREAD_MS, (backoffExpiry ?? Infinity) - Date.now()))
          : poll;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
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
        const session = this.session;
        // One claimer per pass: it reads the queue's head once for many claims. Schedulers spread
        // over the first entries of the head's priority so that they rarely race for one loop.
        const claimer =
          session &&
          this.o.store.claims.claimer(session, {
            spread: 32,
            readAhead: 8,
            ...this.o.claim,
            onBudgetExceeded: (e) => this.budgetExceeded(e),
          });
        while (claimer && session?.state === "running" && this.stateValue === "running") {
          const claimed = await claimer.next();
          if (!claimed) break;
          await this.launch(claimed);
        }
        backoffExpiry = claimer?.nextBackoffExpiry;
      } catch (err) {
        this.o.log.error({ err }, "claiming failed");
        // The next poll would retry too; this only keeps a failing etcd from being hammered.
        await delay(500, undefined, { signal: this.stopping.signal }).catch(() => undefined);
        this.dirty = true;
      }
    }
  }

  /**
   * A loop passed over because its concurrency key spent its daily budget: said once per loop and
   * day in its journal (the entry id makes other schedulers' same entry a no-op), not every pass.
   */
  private budgetExceeded(e: BudgetExceeded): void {
    const memo = `${e.loopId}/${e.day}`;
    if (this.budgetNoted.has(memo)) return;
    if (this.budgetNoted.size > 10_000) this.budgetNoted.clear();
    this.budgetNoted.add(memo);
    void this.o.store.journal
      .append(e.loopId, [
        {
          id: `budget:${e.day}`,
          phase: "scheduled",
          level: "warn",
          actor: { type: "scheduler", id: this.id },
          message: `not claimed: concurrency key ${e.concurrencyKey} spent $${e.spentUsd.toFixed(2)} of its $${e.budgetUsd} budget for ${e.day} (UTC); the loop stays queued until 00:00 UTC`,
          metadata: { budget: true, ...e },
        },
      ])
      .catch((err: unknown) => this.o.log.warn({ loopId: e.loopId, err }, "budget journal entry failed"));
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
      this.o.log.info({ loopId: loop.id, attempt, handle: handle.id }, "replica started");
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.o.log.error({ loopId: loop.id, attempt, err }, "replica start failed");
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
    const leadership = this.o.store.campaign("reconciler", {
      candidate: this.id,
      ttlSeconds: this.o.sessionTtlSeconds ?? 10,
    });
    this.leadership = leadership;
    leadership.on("elected", () => {
      this.leader = true;
      this.o.log.info({ id: this.id }, "elected reconciler");
      this.reconcileTick();
    });
    leadership.on("lost", (err) => {
      this.leader = false;
      this.o.log.warn({ err }, "reconciler election lost");
      void delay(1000, undefined, { signal: this.stopping.signal })
        .then(() => this.stateValue === "running" && this.campaignForReconciler())
        .catch(() => undefined);
    });
  }

  /** A reconcile pass now, then the next one after the interval (or sooner, when asked meanwhile). */
  private reconcileTick(): void {
    if (!this.leader || this.stateValue !== "running") return;
    this.reconcileInFlight = true;
    this.lastReconcileAt = Date.now();
    this.reconciling = this.reconcileNow()
      .catch((err: unknown) => this.o.log.error({ err }, "reconcile pass failed"))
      .finally(() => {
        this.reconcileInFlight = false;
        const again = this.reconcileAgain;
        this.reconcileAgain = false;
        if (this.leader && this.stateValue === "running")
          this.reconcileTimer = setTimeout(
            () => this.reconcileTick(),
            again ? EARLY_RECONCILE_MS : (this.o.reconcileIntervalMs ?? 5_000),
          );
      });
  }

  /** Asks the elected reconciler for a pass soon (at most one a second). */
  private reconcileSoon(): void {
    if (!this.leader || this.stateValue !== "running") return;
    if (this.reconcileInFlight) {
      this.reconcileAgain = true;
      return;
    }
    if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
    const wait = Math.max(EARLY_RECONCILE_MS, this.lastReconcileAt + 1000 - Date.now());
    this.reconcileTimer = setTimeout(() => this.reconcileTick(), wait);
  }

  /** One reconcile pass (the leader runs them periodically; tests call it directly). */
  async reconcileNow(): Promise<void> {
    const report = await this.reconciler.runOnce();
    if (
      report.retried.length ||
      report.flatlined.length ||
      report.timedOut.length ||
      report.stopped.length ||
      report.purged.length ||
      report.requeued.length
    )
      this.o.log.info({ ...report }, "reconciled");
    if (report.retried.length || report.requeued.length || report.slotsReleased) this.poke();
  }

  /** Stops claiming, resigns leadership and releases the lease. Replicas keep running. */
  async stop(): Promise<void> {
    if (this.stateValue === "stopped" || this.stateValue === "created") {
      this.stateValue = "stopped";
      return;
    }
    this.stateValue = "draining";
    this.stopping.abort();
    this.wake?.();
    if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
    await this.queueFollower;
    await this.slotsFollower;
    await this.claimsFollower;
    await this.claimLoop?.catch(() => undefined);
    await this.reconciling?.catch(() => undefined);
    await this.notifier?.stop();
    this.leader = false;
    await this.leadership?.resign().catch(() => undefined);
    await this.session?.close();
    this.stateValue = "stopped";
    this.o.log.info({ id: this.id }, "scheduler stopped");
  }
}
