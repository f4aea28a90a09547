import type { Logger } from "@smith/logger";
import {
  isSmithError,
  loopTimedOut,
  type Executor,
  type Loop,
  type ReplicaStatus,
  type VersionedLoop,
} from "@smith/core";
import type { SmithStore } from "@smith/store";

export interface ReconcilerOptions {
  store: SmithStore;
  executor: Executor;
  /** A replica gets this long after its claim to take the lock before it counts as lost. */
  startGraceMs: number;
  /** First retry delay; doubled per attempt, capped at 5 minutes. */
  retryBackoffMs: number;
  log: Logger;
  now?: () => Date;
  /** Finished loops are purged (with their journal, handoffs, overrides) this long after they finished. Off when absent. */
  retentionMs?: number;
}

export interface ReconcileReport {
  retried: string[];
  flatlined: string[];
  timedOut: string[];
  stopped: string[];
  slotsReleased: number;
  /** Finished loops deleted under the retention policy. */
  purged: string[];
}

/**
 * Brings etcd and the executor into agreement. Run by one elected scheduler at a time; every
 * step is a revision-checked transition or an idempotent stop, so running it twice (or two
 * leaders overlapping for a moment) changes nothing more.
 */
export class Reconciler {
  private readonly o: ReconcilerOptions;

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
    };
    for (const v of await this.all(["running", "unresolved"])) {
      try {
        await this.reconcileLoop(v, report);
      } catch (err) {
        // A lost race means someone else moved the loop: the next pass sees the new state.
        if (
          !isSmithError(err) ||
          !(err.code === "conflict" || err.code === "invalid_transition" || err.code === "stale_attempt")
        ) {
          this.o.log.error("reconcile failed", {
            loopId: v.loop.id,
            error: err instanceof Error ? err.message : String(err),
          });
        }
      }
    }
    await this.stopStrays(report);
    report.slotsReleased = await this.o.store.claims.releaseStaleSlots();
    if (this.o.retentionMs !== undefined) await this.purgeExpired(this.o.retentionMs, report);
    return report;
  }

  /** Deletes loops that finished more than `retentionMs` ago (a retried one is no longer finished). */
  private async purgeExpired(retentionMs: number, report: ReconcileReport): Promise<void> {
    const cutoff = this.now().getTime() - retentionMs;
    let cursor: string | undefined;
    do {
      const page = await this.o.store.loops.list({
        state: ["synced", "cancelled", "flatline"],
        cursor,
        limit: 500,
        order: "asc",
      });
      for (const loop of page.items) {
        if (!loop.status.finishedAt || Date.parse(loop.status.finishedAt) > cutoff) continue;
        try {
          if (await this.o.store.loops.purge(loop.id)) report.purged.push(loop.id);
        } catch (err) {
          if (!isSmithError(err, "conflict")) throw err;
        }
      }
      cursor = page.nextCursor;
    } while (cursor);
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

    // The start grace covers a replica that has not taken its lock yet. Once this attempt has
    // heartbeated, an expired lock means the replica died or hung: no grace.
    const started = Date.parse(loop.status.attemptStartedAt ?? loop.status.updatedAt);
    const everLocked = lock.heartbeat?.attempt === loop.status.attempt;
    const withinGrace = !everLocked && now.getTime() - started < this.o.startGraceMs;
    // A scheduler that died between starting the replica and recording its handle leaves no
    // handle: ask the executor for this attempt's replica instead.
    const handle =
      loop.status.executor ??
      (await executor.list()).find((r) => r.loopId === loop.id && r.attempt === loop.status.attempt)?.handle;
    const status: ReplicaStatus = handle
      ? await executor.status(handle)
      : { phase: "unknown", message: "no replica was started" };
    const live = status.phase === "running" || status.phase === "pending";
    if (withinGrace && (live || !handle)) return;
    if (live) {
      // The lock is gone past the grace period but the process lives on: it is hung or cut off.
      // Stop it; the next pass retries the loop once the executor reports no live replica.
      if (handle) await executor.stop(handle);
      await this.journal(loop.id, "warn", `replica of attempt ${loop.status.attempt} stopped: it holds no live lock`);
      report.stopped.push(loop.id);
      return;
    }
    const attempt = loop.status.attempt;
    const backoffMs = Math.min(
      this.o.retryBackoffMs * 2 ** Math.max(0, attempt - 1 - loop.status.attemptBase),
      5 * 60_000,
    );
    const why = `replica lost on attempt ${attempt} (${status.phase}${status.exitCode !== undefined ? `, exit ${status.exitCode}` : ""}${status.message ? `: ${status.message}` : ""})`;
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

  /** Replicas of loops that are finished, or of an attempt that is no longer current, are stopped. */
  private async stopStrays(report: ReconcileReport): Promise<void> {
    for (const replica of await this.o.executor.list()) {
      if (replica.status.phase !== "running" && replica.status.phase !== "pending") continue;
      const current = await this.o.store.loops.get(replica.loopId);
      const keep =
        current && current.loop.status.state === "running" && current.loop.status.attempt === replica.attempt;
      if (keep) continue;
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
