import { SCHEMA_VERSION, SmithError } from "@smith/core";
import { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import type { LoopRepository } from "./loops.ts";
import { absent, modIs, txn, type Compare } from "./txn.ts";

/**
 * The replica lock. `locks/<id>` names the attempt that owns the loop (the fencing token) and
 * changes only when an attempt takes it; `heartbeats/<id>` carries the expiry and changes on
 * every heartbeat. Keeping them apart means a fenced write compares a key that heartbeats never
 * touch, so heartbeats and journal appends do not conflict.
 *
 * Why not an etcd lease, as DESIGN.md first sketched: replicas talk only to the API, never to
 * etcd, so a lease would be held by an API process. It would either outlive a dead replica (the
 * API keeps it alive) or need keep-alives by lease id from whichever API process a heartbeat
 * reaches, which the etcd client does not offer. An expiry written by the heartbeat gives the same
 * guarantee (no heartbeat for `ttlMs` → the lock is gone) and works through any API replica.
 */
export const LockRecord = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  loopId: z.string(),
  attempt: z.number().int().min(1),
  holder: z.string(),
  acquiredAt: z.string(),
});
export type LockRecord = z.infer<typeof LockRecord>;

const HeartbeatRecord = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  attempt: z.number().int().min(1),
  at: z.string(),
  expiresAt: z.string(),
});
type HeartbeatRecord = z.infer<typeof HeartbeatRecord>;

export interface LockState {
  lock?: LockRecord;
  lockRevision?: string;
  heartbeat?: HeartbeatRecord;
  /** The lock exists and its heartbeat has not expired. */
  alive: boolean;
}

export const DEFAULT_LOCK_TTL_MS = 30_000;

export class LockRepository {
  private readonly ctx: StoreContext;
  private readonly loops: LoopRepository;

  constructor(ctx: StoreContext, loops: LoopRepository) {
    this.ctx = ctx;
    this.loops = loops;
  }

  /**
   * Takes the lock for (loop, attempt). The loop must be running on exactly this attempt. The
   * same holder taking it again is idempotent; a lock of an older attempt is taken over.
   */
  async acquire(
    loopId: string,
    attempt: number,
    options: { holder: string; ttlMs?: number },
  ): Promise<{ expiresAt: string }> {
    const { client, keys } = this.ctx;
    const ttlMs = options.ttlMs ?? DEFAULT_LOCK_TTL_MS;
    for (let round = 0; round < 5; round++) {
      const { loop, revision } = await this.loops.getOrThrow(loopId);
      if (loop.status.state !== "running") {
        throw new SmithError("invalid_transition", `loop ${loopId} is ${loop.status.state}, not running`, {
          field: "loopId",
          state: loop.status.state,
        });
      }
      if (loop.status.attempt !== attempt) throw staleAttempt(loopId, attempt, loop.status.attempt);
      const current = await this.inspect(loopId);
      if (current.lock && current.lock.attempt === attempt && current.lock.holder !== options.holder && current.alive) {
        throw new SmithError("conflict", `loop ${loopId} attempt ${attempt} is locked by ${current.lock.holder}`, {
          field: "holder",
        });
      }
      const now = this.ctx.now();
      const lock: LockRecord = {
        schemaVersion: SCHEMA_VERSION,
        loopId,
        attempt,
        holder: options.holder,
        acquiredAt: now.toISOString(),
      };
      const compares: Compare[] = [
        modIs(keys.loop(loopId), revision),
        current.lockRevision ? modIs(keys.lock(loopId), current.lockRevision) : absent(keys.lock(loopId)),
      ];
      const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
      const ops = [client.put(keys.heartbeat(loopId)).value(encode(heartbeat(attempt, now, expiresAt)))];
      // Re-acquiring by the same holder keeps the lock key's revision, so fences taken earlier hold.
      const same = current.lock?.attempt === attempt && current.lock.holder === options.holder;
      if (!same) ops.unshift(client.put(keys.lock(loopId)).value(encode(lock)));
      const res = await txn(client, compares, ops);
      if (res.succeeded) return { expiresAt };
    }
    throw new SmithError("conflict", `loop ${loopId}: could not take the lock; retry`);
  }

  /** Extends the lock's expiry. A stale attempt (or a lock that is gone) is refused. */
  async heartbeat(loopId: string, attempt: number, options: { ttlMs?: number } = {}): Promise<{ expiresAt: string }> {
    const { client, keys } = this.ctx;
    const current = await this.inspect(loopId);
    if (!current.lock || !current.lockRevision) {
      throw new SmithError(
        "stale_attempt",
        `loop ${loopId} has no replica lock: attempt ${attempt} no longer owns it`,
        { field: "attempt" },
      );
    }
    if (current.lock.attempt !== attempt) throw staleAttempt(loopId, attempt, current.lock.attempt);
    const now = this.ctx.now();
    const expiresAt = new Date(now.getTime() + (options.ttlMs ?? DEFAULT_LOCK_TTL_MS)).toISOString();
    const res = await txn(
      client,
      [modIs(keys.lock(loopId), current.lockRevision)],
      [client.put(keys.heartbeat(loopId)).value(encode(heartbeat(attempt, now, expiresAt)))],
    );
    if (!res.succeeded)
      throw new SmithError("stale_attempt", `loop ${loopId}: the lock changed hands`, { field: "attempt" });
    return { expiresAt };
  }

  /**
   * The compare that fences a write to (loop, attempt): it holds only while the lock key is the
   * one this attempt took. Throws stale_attempt at once when it already does not.
   */
  async fence(loopId: string, attempt: number): Promise<Compare[]> {
    const current = await this.inspect(loopId);
    if (!current.lock || !current.lockRevision) {
      throw new SmithError("stale_attempt", `loop ${loopId}: attempt ${attempt} does not hold the replica lock`, {
        field: "attempt",
      });
    }
    if (current.lock.attempt !== attempt) throw staleAttempt(loopId, attempt, current.lock.attempt);
    return [modIs(this.ctx.keys.lock(loopId), current.lockRevision)];
  }

  async inspect(loopId: string): Promise<LockState> {
    const { client, keys } = this.ctx;
    const [lockRes, hbRes] = await etcdCall(() =>
      Promise.all([client.get(keys.lock(loopId)).exec(), client.get(keys.heartbeat(loopId)).exec()]),
    );
    const lockKv = lockRes.kvs[0];
    const hbKv = hbRes.kvs[0];
    const lock = lockKv ? decode(LockRecord, lockKv.value, keys.lock(loopId)) : undefined;
    const hb = hbKv ? decode(HeartbeatRecord, hbKv.value, keys.heartbeat(loopId)) : undefined;
    const alive = Boolean(
      lock && hb && hb.attempt === lock.attempt && Date.parse(hb.expiresAt) > this.ctx.now().getTime(),
    );
    return { lock, lockRevision: lockKv?.mod_revision, heartbeat: hb, alive };
  }

  /** Gives up the lock (the replica is done). Only the owning attempt may release it. */
  async release(loopId: string, attempt: number): Promise<void> {
    const { client, keys } = this.ctx;
    const current = await this.inspect(loopId);
    if (!current.lock || !current.lockRevision || current.lock.attempt !== attempt) return;
    await txn(
      client,
      [modIs(keys.lock(loopId), current.lockRevision)],
      [client.delete().key(keys.lock(loopId)), client.delete().key(keys.heartbeat(loopId))],
    );
  }
}

function heartbeat(attempt: number, now: Date, expiresAt: string): HeartbeatRecord {
  return { schemaVersion: SCHEMA_VERSION, attempt, at: now.toISOString(), expiresAt };
}

function staleAttempt(loopId: string, attempt: number, current: number): SmithError {
  return new SmithError(
    "stale_attempt",
    `loop ${loopId}: attempt ${attempt} is stale; the current attempt is ${current}`,
    {
      field: "attempt",
      attempt,
      currentAttempt: current,
    },
  );
}
