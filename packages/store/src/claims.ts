import { SCHEMA_VERSION, transition, type Loop, type VersionedLoop } from "@smith/core";
import type { IOperation } from "etcd3";
import { z } from "zod";
import { encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { prefixEnd } from "./keys.ts";
import type { LockRepository } from "./locks.ts";
import type { LoopRepository, QueueValue } from "./loops.ts";
import type { Session } from "./session.ts";
import { absent, exists, modIs, txn } from "./txn.ts";
import { WatchStream } from "./watch.ts";

/** The concurrency key of the global limit on running loops. */
export const GLOBAL_SLOT_KEY = "*";

export interface ClaimOptions {
  /** At most this many loops running at once across every scheduler (no limit when absent). */
  maxRunning?: number;
  /** Loops running at once per concurrency key (default 1). */
  perKeyLimit?: number;
  /** Per-key overrides of perKeyLimit. */
  keyLimits?: Record<string, number>;
  /** Queue entries examined per etcd read (default 32). */
  pageSize?: number;
}

export interface ClaimStats {
  /** Claim txns that lost a race (another claimer won, or a slot was taken). */
  conflicts: number;
}

export const ClaimRecord = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  loopId: z.string(),
  attempt: z.number().int(),
  schedulerId: z.string(),
  at: z.string(),
});
export type ClaimRecord = z.infer<typeof ClaimRecord>;

export interface SlotRecord {
  schemaVersion: number;
  loopId: string;
  attempt: number;
}

export class ClaimRepository {
  private readonly ctx: StoreContext;
  private readonly loops: LoopRepository;
  private readonly locks: LockRepository;
  readonly stats: ClaimStats = { conflicts: 0 };

  constructor(ctx: StoreContext, loops: LoopRepository, locks: LockRepository) {
    this.ctx = ctx;
    this.loops = loops;
    this.locks = locks;
  }

  /**
   * Claims the next loop: priority then FIFO order, skipping entries in retry backoff and keys
   * whose slots are full. One txn per attempt: the queue key is still there, the loop is unchanged
   * since it was read, and the slots are free → delete the queue key, take the slots, put the claim
   * on the session's lease and the loop `running` with attempt + 1. Losing the race is normal: the
   * claimer moves on to the next entry.
   */
  async claimNext(session: Session, options: ClaimOptions = {}): Promise<VersionedLoop | undefined> {
    const { client, keys } = this.ctx;
    if (session.state !== "running") return undefined;
    const perKeyLimit = options.perKeyLimit ?? 1;
    const pageSize = options.pageSize ?? 32;
    // Occupied slots are read per concurrency key (and the global pool), only for the keys of the
    // entries actually tried, and re-read after a lost race.
    const occupied = new Map<string, Set<string>>();
    const slotsOf = async (key: string): Promise<Set<string>> => {
      let set = occupied.get(key);
      if (!set) {
        set = await this.occupiedSlots(key);
        occupied.set(key, set);
      }
      return set;
    };
    const queuePrefix = keys.queuePrefix();
    let start = queuePrefix;
    const end = prefixEnd(queuePrefix);
    for (let page = 0; page < 100; page++) {
      // Serializable reads are enough here: the claim txn compares everything it relies on.
      const res = await etcdCall(() =>
        client.getAll().inRange({ start, end }).limit(pageSize).serializable(true).exec(),
      );
      for (const kv of res.kvs) {
        const queueKey = kv.key.toString();
        const entry = JSON.parse(kv.value.toString()) as QueueValue;
        if (entry.notBefore && Date.parse(entry.notBefore) > this.ctx.now().getTime()) continue;
        // A txn can fail because another claimer took this loop (move on) or only because it took
        // the slot we picked (try this loop again with fresh slots, so order is kept).
        for (let tries = 0; tries < 5; tries++) {
          let globalSlot: string | undefined;
          if (options.maxRunning !== undefined) {
            globalSlot = freeSlot(
              await slotsOf(GLOBAL_SLOT_KEY),
              keys.slot(GLOBAL_SLOT_KEY, 0).slice(0, -1),
              options.maxRunning,
            );
            if (!globalSlot) return undefined;
          }
          const limit = options.keyLimits?.[entry.concurrencyKey] ?? perKeyLimit;
          const keySlot = freeSlot(
            await slotsOf(entry.concurrencyKey),
            keys.slot(entry.concurrencyKey, 0).slice(0, -1),
            limit,
          );
          if (!keySlot) break;
          const current = await this.loops.get(entry.loopId);
          if (!current || current.loop.status.state !== "unresolved" || current.loop.status.queueKey !== queueKey)
            break;
          const claimed = await this.tryClaim(session, current, queueKey, [
            keySlot,
            ...(globalSlot ? [globalSlot] : []),
          ]);
          if (claimed) return claimed;
          this.stats.conflicts++;
          occupied.clear();
        }
      }
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) return undefined;
      start = last.key.toString() + "\0";
    }
    return undefined;
  }

  private async tryClaim(
    session: Session,
    current: VersionedLoop,
    queueKey: string,
    slots: string[],
  ): Promise<VersionedLoop | undefined> {
    const { client, keys } = this.ctx;
    const at = this.ctx.now().toISOString();
    const result = transition(current.loop, { type: "claimed", schedulerId: session.id, at });
    if (!result.ok) return undefined;
    const next: Loop = { ...result.loop, status: { ...result.loop.status, slots } };
    const plan = this.loops.plan(current.loop, next);
    const attempt = plan.loop.status.attempt;
    const ops: IOperation[] = [
      ...plan.ops,
      ...slots.map((s) =>
        client
          .put(s)
          .value(encode({ schemaVersion: SCHEMA_VERSION, loopId: current.loop.id, attempt } satisfies SlotRecord)),
      ),
      client
        .put(keys.claim(current.loop.id))
        .value(
          encode({
            schemaVersion: SCHEMA_VERSION,
            loopId: current.loop.id,
            attempt,
            schedulerId: session.id,
            at,
          } satisfies ClaimRecord),
        )
        .lease(session.lease_id),
    ];
    const res = await txn(
      client,
      [modIs(keys.loop(current.loop.id), current.revision), exists(queueKey), ...slots.map(absent), ...plan.compares],
      ops,
    );
    return res.succeeded ? { loop: plan.loop, revision: res.header.revision } : undefined;
  }

  /** The taken slot keys of one concurrency key (or of the global pool). */
  private async occupiedSlots(concurrencyKey: string): Promise<Set<string>> {
    const { client, keys } = this.ctx;
    const prefix = keys.slotsPrefix(concurrencyKey);
    const res = await etcdCall(() => client.getAll().prefix(prefix).serializable(true).keys());
    return new Set(res);
  }

  /**
   * Changes to the queue (a loop enqueued, claimed or dequeued), for claimers that wait for work
   * instead of polling. The stream fails on a lost watch; the caller watches again.
   */
  watchQueue(options: { maxBuffered?: number } = {}): WatchStream {
    return new WatchStream(this.ctx.client, { prefix: this.ctx.keys.queuePrefix(), maxBuffered: options.maxBuffered });
  }

  /** The claim record of a loop, if the claiming scheduler's lease is still alive. */
  async getClaim(loopId: string): Promise<ClaimRecord | undefined> {
    const key = this.ctx.keys.claim(loopId);
    const raw = await etcdCall(() => this.ctx.client.get(key).string());
    return raw ? ClaimRecord.parse(JSON.parse(raw)) : undefined;
  }

  /**
   * Running loops with no live replica lock whose claim is gone (the scheduler died before a
   * replica took the lock) or older than `startGraceMs` (a replica never started, or died).
   * The reconciler checks the executor too before it retries them.
   */
  async orphans(options: { startGraceMs: number }): Promise<VersionedLoop[]> {
    const out: VersionedLoop[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await this.loops.list({ state: "running", cursor, limit: 200 });
      for (const loop of page.items) {
        const lock = await this.locks.inspect(loop.id);
        if (lock.alive && lock.lock?.attempt === loop.status.attempt) continue;
        const claim = await this.getClaim(loop.id);
        // The grace runs from the claim (as the doc above says), not from the last heartbeat: a
        // replica that died after heartbeating would otherwise stay unnoticed for startGraceMs more.
        const started = Date.parse(loop.status.attemptStartedAt ?? loop.status.updatedAt);
        const pastGrace = this.ctx.now().getTime() - started > options.startGraceMs;
        if (claim && claim.attempt === loop.status.attempt && !pastGrace) continue;
        const fresh = await this.loops.get(loop.id);
        if (fresh && fresh.loop.status.state === "running") out.push(fresh);
      }
      if (!page.nextCursor) return out;
      cursor = page.nextCursor;
    }
  }

  /**
   * Deletes slots whose loop is no longer running on the attempt that took them (a crash between
   * writes, or a loop deleted by hand). Running it twice changes nothing.
   */
  async releaseStaleSlots(): Promise<number> {
    const { client, keys } = this.ctx;
    const res = await etcdCall(() => client.getAll().prefix(keys.slotsPrefix()).exec());
    let released = 0;
    for (const kv of res.kvs) {
      const slot = JSON.parse(kv.value.toString()) as SlotRecord;
      const current = await this.loops.get(slot.loopId);
      const holds = current && current.loop.status.state === "running" && current.loop.status.attempt === slot.attempt;
      if (holds) continue;
      const del = await txn(
        client,
        [modIs(kv.key.toString(), kv.mod_revision)],
        [client.delete().key(kv.key.toString())],
      );
      if (del.succeeded) released++;
    }
    return released;
  }
}

/**
 * A free slot of `limit`, chosen at random among the free ones: claimers racing for the same key
 * then rarely pick the same slot (which would fail one of the two txns for nothing).
 */
function freeSlot(occupied: Set<string>, base: string, limit: number): string | undefined {
  const free: string[] = [];
  for (let n = 0; n < limit && free.length < 64; n++) {
    const key = base + String(n);
    if (!occupied.has(key)) free.push(key);
  }
  return free[Math.floor(Math.random() * free.length)];
}
