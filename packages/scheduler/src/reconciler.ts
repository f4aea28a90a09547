import type { Logger } from "@smith/logger";
import {
  isSmithError,
  type RetentionPolicyInput,
  loopTimedOut,
  waitingDecision,
  type Executor,
  type ListedReplica,
  type Loop,
  type ReplicaStatus,
  type VersionedLoop,
} from "@smith/core";
import type { SmithStore } from "@smith/store";
import { judgeReplica } from "./evidence.ts";

export interface ReconcilerOptions {
  store: SmithStore;
  executor: Executor;
  /** A replica gets this long after its claim to take the lock before it counts as lost. */
  startGraceMs: number;
  /** First retry delay; doubled per attempt, capped at 5 minutes. */
  retryBackoffMs: number;
  log: Logger;
  now?: () => Date;
  /**
   * Finished loops are purged (with their journal, handoffs, overrides) and audit events deleted
   * under this policy, each deletion audited. Off when absent.
   */
  retention?: RetentionPolicyInput;
  /**
   * The safety nets that find nothing on a healthy installation (stale slots, old spend records,
   * the retention sweep) run at most this often (default 0: every pass). The scheduler passes a
   * minute, so that an idle reconciler costs etcd one range per pass.
   */
  maintenanceIntervalMs?: number;
}

export interface ReconcileReport {
  retried: string[];
  flatlined: string[];
  timedOut: string[];
  stopped: string[];
  slotsReleased: number;
  /** Finished loops deleted under the retention policy. */
  purged: string[];
  /** Loops parked for a quota whose reset time passed: back in the queue. */
  resumed: string[];
  /** Waiting loops nobody answered within their waiting timeout: flatline (abandoned). */
  abandoned: string[];
  /** Claims whose scheduler went away before starting a replica: queued again, the attempt not counted. */
  requeued: string[];
}

/**
 * Brings etcd and the executor into agreement. Run by one elected scheduler at a time; every
 * step is a revision-checked transition or an idempotent stop, so running it twice (or two
 * leaders overlapping for a moment) changes nothing more.
 */
export class Reconciler {
  private readonly o: ReconcilerOptions;
  private listed: Promise<ListedReplica[]> | undefined;
  private lastMaintenance: number | undefined;

  constructor(options: ReconcilerOptions) {
    this.o = options;
  }

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  async runOnce(): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      retried: [],
      flatlined: [],
      timedOut: [],
      stopped: [],
      slotsReleased: 0,
      purged: [],
      resumed: [],
      abandoned: [],
      requeued: [],
    };
    this.listed = undefined;
    // One scan of the loops for the states the reconciler acts on.
    for (const v of await this.all(["running", "unresolved", "waiting"])) {
      try {
        if (v.loop.status.state === "waiting") await this.reconcileWaiting(v, report);
        else await this.reconcileLoop(v, report);
      } catch (err) {
        // A lost race means someone else moved the loop: the next pass sees the new state.
        if (
          !isSmithError(err) ||
          !(err.code === "conflict" || err.code === "invalid_transition" || err.code === "stale_attempt")
        ) {
          this.o.log.error({ loopId: v.loop.id, err }, "reconcile failed");
        }
      }
    }
    await this.stopStrays(report);
    const now = this.now().getTime();
    if (this.lastMaintenance === undefined || now - this.lastMaintenance >= (this.o.maintenanceIntervalMs ?? 0)) {
      this.lastMaintenance = now;
      // Transitions release their slots in the same txn: this only catches a loop deleted by hand.
      report.slotsReleased = await this.o.store.claims.releaseStaleSlots();
      // The per-key daily budget reads today's spend only; a week of history is kept for a person.
      await this.o.store.claims.pruneSpend(new Date(now - 7 * 86_400_000));
      if (this.o.retention) await this.purgeExpired(this.o.retention, report);
    }
    return report;
  }

  /** Deletes what the retention policy says is due (a retried loop is no longer finished: kept). */
  private async purgeExpired(policy: RetentionPolicyInput, report: ReconcileReport): Promise<void> {
    const r = await this.o.store.retention.sweep(policy, {
      actor: { type: "scheduler", id: "reconciler" },
      action: "retention",
      correlationId: `retention-${this.now().toISOString()}`,
    });
    report.purged.push(...r.deleted.map((d) => d.id));
    if (r.capped) this.o.log.info({ deleted: r.deleted.length }, "retention pass capped: more loops are due");
  }

  private async all(states: Loop["status"]["state"][]): Promise<VersionedLoop[]> {
    const out: VersionedLoop[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.o.store.loops.list({ state: states, cursor, limit: 500, order: "asc" });
      for (const loop of page.items) {
        const fresh = await this.o.store.loops.get(loop.id);
        if (fresh) out.push(fresh);
      }
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }

  private async reconcileLoop({ loop, revision }: VersionedLoop, report: ReconcileReport): Promise<void> {
    const { store, executor } = this.o;
    const now = this.now();
    const at = now.toISOString();
    if (loopTimedOut(loop.status, loop.spec.limits, now.getTime())) {
      if (loop.status.executor) await executor.stop(loop.status.executor);
      await store.loops.transition(loop.id, { type: "timedOut", at }, { expectedRevision: revision });
      await this.journal(loop.id, "warn", `timed out after ${loop.spec.limits.timeoutMs} ms; replica stopped`);
      report.timedOut.push(loop.id);
      return;
    }
    if (loop.status.state !== "running") return;

    const lock = await store.locks.inspect(loop.id);
    if (lock.alive && lock.lock?.attempt === loop.status.attempt) return;
    const own = await this.ownReplica(loop);
    const everTaken = lock.heartbeat?.attempt === loop.status.attempt;
    const claimGone = !loop.status.executor && !everTaken && !own && (await this.claimGone(loop));
    const verdict = judgeReplica({
      now: now.getTime(),
      attemptStartedAt: Date.parse(loop.status.attemptStartedAt ?? loop.status.updatedAt),
      startGraceMs: this.o.startGraceMs,
      lock: {
        alive: false,
        everTaken,
        ...(everTaken && lock.heartbeat ? { expiredAt: Date.parse(lock.heartbeat.expiresAt) } : {}),
      },
      ...(own ? { own: { phase: own.status.phase } } : {}),
      claimGone,
    });
    if (verdict.action === "keep") return;
    if (verdict.action === "lost" && verdict.unstarted) {
      const why = `attempt ${loop.status.attempt} never started: ${verdict.why}`;
      await store.loops.transition(
        loop.id,
        { type: "replicaLost", attempt: loop.status.attempt, unstarted: true, message: why, at },
        { expectedRevision: revision },
      );
      await this.journal(loop.id, "warn", `${why}; queued again, the attempt not counted`);
      report.requeued.push(loop.id);
      return;
    }
    if (verdict.action === "stop" && own) {
      // The next pass retries the loop once the executor reports the replica gone.
      await executor.stop(own.handle);
      await this.journal(loop.id, "warn", `replica of attempt ${loop.status.attempt} stopped: ${verdict.why}`);
      report.stopped.push(loop.id);
      return;
    }
    const status: ReplicaStatus = own?.status ?? { phase: "unknown" };
    const attempt = loop.status.attempt;
    const backoffMs = Math.min(
      this.o.retryBackoffMs * 2 ** Math.max(0, attempt - 1 - loop.status.attemptBase),
      5 * 60_000,
    );
    const detail = `${status.exitCode !== undefined ? `, exit ${status.exitCode}` : ""}${status.message ? `: ${status.message}` : ""}`;
    const why = `replica lost on attempt ${attempt} (${verdict.why}${detail})`;
    const next = await store.loops.transition(
      loop.id,
      { type: "replicaLost", attempt, backoffMs, message: why, at },
      { expectedRevision: revision },
    );
    if (next.loop.status.state === "flatline") {
      await this.journal(loop.id, "error", `${why}; no attempts left: flatline (replica-lost)`);
      report.flatlined.push(loop.id);
    } else {
      await this.journal(loop.id, "warn", `${why}; retrying in ${backoffMs} ms`);
      report.retried.push(loop.id);
    }
  }

  /** Whether the claim record of the loop's attempt is gone (it lives on the claimer's session lease). */
  private async claimGone(loop: Loop): Promise<boolean> {
    return !(await this.o.store.claims.claimHeld(loop.id, loop.status.attempt));
  }

  /**
   * The replica of the loop's current attempt as this reconciler's own executor reports it, when
   * that executor started it: the handle names its instance, or (a scheduler died between starting
   * the replica and recording the handle) the executor's own list has the attempt. Undefined for a
   * replica of another executor instance: its absence here proves nothing.
   */
  private async ownReplica(loop: Loop): Promise<ListedReplica | undefined> {
    const { executor } = this.o;
    const handle = loop.status.executor;
    if (handle) {
      if (handle.kind !== executor.kind || handle.instance !== executor.instance) return undefined;
      return { handle, loopId: loop.id, attempt: loop.status.attempt, status: await executor.status(handle) };
    }
    return (await this.listOwn()).find((r) => r.loopId === loop.id && r.attempt === loop.status.attempt);
  }

  /** The own executor's replicas, read once per pass. */
  private listOwn(): Promise<ListedReplica[]> {
    this.listed ??= this.o.executor.list();
    return this.listed;
  }

  /** A waiting loop resumes after its quota reset time, or is abandoned after its waiting timeout. */
  private async reconcileWaiting({ loop, revision }: VersionedLoop, report: ReconcileReport): Promise<void> {
    const now = this.now();
    const decision = waitingDecision(loop, now);
    if (decision.action === "none") return;
    const at = now.toISOString();
    if (decision.action === "resume") {
      await this.o.store.loops.transition(loop.id, { type: "resumed", at }, { expectedRevision: revision });
      await this.journal(
        loop.id,
        "info",
        `the agent's usage limit reset at ${loop.status.resumeAt ?? at}: back in the queue`,
      );
      report.resumed.push(loop.id);
      return;
    }
    await this.o.store.loops.transition(loop.id, { type: "timedOut", at }, { expectedRevision: revision });
    await this.journal(
      loop.id,
      "error",
      `waited ${loop.spec.limits.waitingTimeoutMs} ms (${loop.status.reason ?? "waiting"}) without an answer: flatline (abandoned)`,
    );
    report.abandoned.push(loop.id);
  }

  /**
   * Replicas of loops that are finished, or of an attempt that is no longer current, are stopped,
   * but only once the loop has been so for the start grace: a replica that has just finalized its
   * loop, or was told by its heartbeat to stop, is left to exit by itself.
   */
  private async stopStrays(report: ReconcileReport): Promise<void> {
    for (const replica of await this.listOwn()) {
      if (replica.status.phase !== "running" && replica.status.phase !== "pending") continue;
      const current = await this.o.store.loops.get(replica.loopId);
      const keep =
        current && current.loop.status.state === "running" && current.loop.status.attempt === replica.attempt;
      if (keep) continue;
      if (current) {
        const st = current.loop.status;
        const since = Date.parse(
          st.finishedAt ?? (st.state === "running" ? st.attemptStartedAt : undefined) ?? st.updatedAt,
        );
        if (this.now().getTime() - since < this.o.startGraceMs) continue;
      }
      await this.o.executor.stop(replica.handle);
      report.stopped.push(replica.loopId);
      if (current)
        await this.journal(
          replica.loopId,
          "info",
          `stopped the replica of attempt ${replica.attempt}: the loop is ${current.loop.status.state} on attempt ${current.loop.status.attempt}`,
        );
    }
  }

  private async journal(loopId: string, level: "info" | "warn" | "error", message: string): Promise<void> {
    await this.o.store.journal.append(loopId, [
      { phase: "reconcile", level, actor: { type: "scheduler", id: "reconciler" }, message },
    ]);
  }
}
