import { SCHEMA_VERSION, type VersionedLoop } from "@smith/core";
import { z } from "zod";
import type { StoreContext } from "./context.ts";
import { decode } from "./codec.ts";
import { etcdCall } from "./etcd.ts";
import type { LoopRepository } from "./loops.ts";
import type { Session } from "./session.ts";
import { Claimer } from "./claimer.ts";
import { utcDay } from "./keys.ts";
import { modIs, txn } from "./txn.ts";
import { WatchStream } from "./watch.ts";

export { GLOBAL_SLOT_KEY } from "./claimer.ts";

export interface ClaimOptions {
  /** At most this many loops running at once across every scheduler (no limit when absent). */
  maxRunning?: number;
  /** Loops running at once per concurrency key (default 1). */
  perKeyLimit?: number;
  /** Per-key overrides of perKeyLimit. */
  keyLimits?: Record<string, number>;
  /** Queue entries examined per etcd read (default 32). */
  pageSize?: number;
  /**
   * Within the head's priority, start at a random entry among the first `spread` (default 1:
   * strict FIFO). Racing claimers with a spread mostly try different loops; FIFO then holds per
   * concurrency key (enforced by the claim txn), not across keys.
   */
  spread?: number;
  /** Loops read ahead per queue read (default: the page size). */
  readAhead?: number;
  /**
   * USD one concurrency key may spend per UTC day (SMITH_BUDGET_PER_KEY_USD_PER_DAY): a loop whose
   * key has spent it stays queued until the day is over. No budget when absent.
   */
  budgetPerKeyUsdPerDay?: number;
  /** Told of a loop passed over for its key's budget (each time: the caller says it once). */
  onBudgetExceeded?: (event: BudgetExceeded) => void;
}

/** A loop left in the queue because its concurrency key spent its daily budget. */
export interface BudgetExceeded {
  loopId: string;
  concurrencyKey: string;
  /** The UTC day, `yyyy-mm-dd`. */
  day: string;
  spentUsd: number;
  budgetUsd: number;
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
  readonly stats: ClaimStats = { conflicts: 0 };

  constructor(ctx: StoreContext, loops: LoopRepository) {
    this.ctx = ctx;
    this.loops = loops;
  }

  /**
   * Claims the next loop: priority then FIFO order, skipping entries in retry backoff and keys
   * whose slots are full. One txn per attempt: the queue key is still there, the loop is unchanged
   * since it was read, and the slots are free → delete the queue key, take the slots, put the claim
   * on the session's lease and the loop `running` with attempt + 1. Losing the race is normal: the
   * claimer moves on to the next entry. A process that claims repeatedly keeps a `claimer()`,
   * which reads ahead.
   */
  async claimNext(session: Session, options: ClaimOptions = {}): Promise<VersionedLoop | undefined> {
    if (session.state !== "running") return undefined;
    // A single claim reads a few loops ahead, not a whole page.
    return this.claimer(session, { readAhead: 4, ...options }).next();
  }

  /** A claimer for one session that reads the queue's head ahead (see Claimer). */
  claimer(session: Session, options: ClaimOptions = {}): Claimer {
    return new Claimer(this.ctx, this.loops, session, options, this.stats);
  }

  /**
   * Changes to the queue (a loop enqueued, claimed or dequeued), for claimers that wait for work
   * instead of polling. The stream fails on a lost watch; the caller watches again.
   */
  watchQueue(options: { maxBuffered?: number } = {}): WatchStream {
    return WatchStream.open(this.ctx.client, { prefix: this.ctx.keys.queuePrefix(), maxBuffered: options.maxBuffered });
  }

  /**
   * Changes to the concurrency slots: a deleted slot is capacity freed (a loop left `running`), so
   * a loop held back by its key's limit may be claimable now although the queue did not change.
   */
  watchSlots(options: { maxBuffered?: number } = {}): WatchStream {
    return WatchStream.open(this.ctx.client, { prefix: this.ctx.keys.slotsPrefix(), maxBuffered: options.maxBuffered });
  }

  /**
   * Deletes the spend records of UTC days before `before`'s (the budget reads only today's): one
   * range delete, since days sort as strings.
   */
  /**
   * Whether the claim record of the loop's `attempt` still exists. It lives on the claimer's
   * session lease: gone while the loop still runs that attempt means the claiming scheduler's
   * session ended (it died, or lost etcd for longer than its TTL).
   */
  async claimHeld(loopId: string, attempt: number): Promise<boolean> {
    const raw = await etcdCall(() => this.ctx.client.get(this.ctx.keys.claim(loopId)).string());
    if (raw === null) return false;
    return decode(ClaimRecord, raw, this.ctx.keys.claim(loopId)).attempt === attempt;
  }

  /** Claim records as they come and go (a deletion is a finished attempt or an ended session). */
  watchClaims(options: { maxBuffered?: number } = {}): WatchStream {
    return WatchStream.open(this.ctx.client, {
      prefix: this.ctx.keys.claimsPrefix(),
      maxBuffered: options.maxBuffered,
    });
  }

  async pruneSpend(before: Date): Promise<void> {
    const { client, keys } = this.ctx;
    await etcdCall(() =>
      client
        .delete()
        .inRange({ start: keys.spendPrefix(), end: keys.spendPrefix(utcDay(before)) })
        .exec(),
    );
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
