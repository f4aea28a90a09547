import { SCHEMA_VERSION, transition, Loop, type VersionedLoop } from "@smith/core";
import type { IKeyValue, IOperation } from "etcd3";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { prefixEnd, utcDay } from "./keys.ts";
import { SpendRecord, type LoopRepository, type QueueValue } from "./loops.ts";
import type { Session } from "./session.ts";
import { absent, exists, modIs, rangeKvs, txn, type Compare } from "./txn.ts";
import type { ClaimOptions, ClaimRecord, ClaimStats, SlotRecord } from "./claims.ts";

/** The concurrency key of the global limit on running loops. */
export const GLOBAL_SLOT_KEY = "*";

interface Candidate {
  queueKey: string;
  entry: QueueValue;
  current: VersionedLoop;
  /** Queue keys of earlier eligible entries with the same concurrency key: they go first. */
  before: string[];
}

/**
 * Claims loops for one session, reading ahead: one range of the queue's head and ONE read txn for
 * the loops and slots of that page, then one claim txn per loop, until the page is used up. A claim
 * thus costs about one round trip instead of four (queue range, slots, loop, txn).
 *
 * Order: priority first; within the head's priority each claimer starts at a random entry among
 * the first `spread`, so that racing claimers do not all fight for the same entry. FIFO is kept per
 * concurrency key, and etcd enforces it: a claim txn also compares that every earlier eligible
 * entry of its key is gone from the queue. Every claim txn compares the loop's revision, the
 * queue key and the slots, so a stale page costs a failed txn, never a double claim.
 */
export class Claimer {
  private readonly ctx: StoreContext;
  private readonly loops: LoopRepository;
  private readonly session: Session;
  private readonly options: ClaimOptions;
  private readonly stats: ClaimStats;
  private page: Candidate[] = [];
  private backoffUntil: number | undefined;
  /** Occupied slot keys per concurrency key, from the page read and refreshed by failed claims. */
  private occupied = new Map<string, Set<string>>();
  /** USD spent today per concurrency key, from the page read (only with a budget). */
  private spent = new Map<string, number>();
  private spentDay = "";

  constructor(ctx: StoreContext, loops: LoopRepository, session: Session, options: ClaimOptions, stats: ClaimStats) {
    this.ctx = ctx;
    this.loops = loops;
    this.session = session;
    this.options = options;
    this.stats = stats;
  }

  /**
   * The earliest retry backoff (ms since the epoch) among the queue entries the last `next()` read
   * and skipped: no queue event announces that they become claimable.
   */
  get nextBackoffExpiry(): number | undefined {
    return this.backoffUntil;
  }

  /**
   * Claims the next loop, or undefined when nothing is claimable now. The page left from the last
   * call is used first; then pages are read from the queue's head on, as far as it takes to find a
   * claimable entry (entries of full keys do not hide the ones behind them).
   */
  async next(): Promise<VersionedLoop | undefined> {
    this.backoffUntil = undefined;
    const left = await this.drainPage();
    if (left !== undefined) return left === "full" ? undefined : left;
    let from = "";
    for (let pages = 0; pages < 100; pages++) {
      const read = await this.refill(from);
      if (read === undefined) return undefined;
      const conflicts = this.stats.conflicts;
      const claimed = await this.drainPage();
      if (claimed !== undefined) return claimed === "full" ? undefined : claimed;
      // A lost race means the head moved: read it again instead of moving on.
      from = this.stats.conflicts > conflicts ? "" : read;
    }
    return undefined;
  }

  /** Tries the page's candidates in order until one is claimed (or the global limit is reached). */
  private async drainPage(): Promise<VersionedLoop | "full" | undefined> {
    while (this.page.length > 0) {
      if (this.session.state !== "running") return "full";
      const candidate = this.page.shift();
      if (!candidate) break;
      // Its key's earlier entries go first (the claim txn would fail): try it after them.
      if (candidate.before.some((k) => this.page.some((p) => p.queueKey === k))) {
        this.page.push(candidate);
        continue;
      }
      const result = await this.tryCandidate(candidate);
      if (result) return result;
    }
    return undefined;
  }

  /**
   * Reads one page of the queue from `from` (the head when empty or absent) and, in one txn, the
   * loops and slots it needs. Returns where the next page starts, or undefined at the queue's end.
   */
  private async refill(from: string | undefined): Promise<string | undefined> {
    const { client, keys } = this.ctx;
    const pageSize = this.options.pageSize ?? 32;
    const queuePrefix = keys.queuePrefix();
    if (from === "\0") return undefined;
    // Serializable: the claim txn compares everything this read suggests.
    const res = await etcdCall(() =>
      client
        .getAll()
        .inRange({ start: from || queuePrefix, end: prefixEnd(queuePrefix) })
        .limit(pageSize)
        .serializable(true)
        .exec(),
    );
    const last = res.kvs[res.kvs.length - 1];
    if (!last) return undefined;
    // "\0" marks the end: the caller stops after this page.
    let nextFrom = res.more ? last.key.toString() + "\0" : "\0";
    const now = this.ctx.now().getTime();
    const entries = res.kvs.map((kv) => ({
      queueKey: kv.key.toString(),
      entry: JSON.parse(kv.value.toString()) as QueueValue,
    }));
    const eligible = entries.filter((e) => !e.entry.notBefore || Date.parse(e.entry.notBefore) <= now);
    for (const e of entries) {
      const at = e.entry.notBefore ? Date.parse(e.entry.notBefore) : NaN;
      if (at > now && (this.backoffUntil === undefined || at < this.backoffUntil)) this.backoffUntil = at;
    }
    if (eligible.length === 0) return nextFrom;
    // Earlier entries of the same key, from the queue keys alone (a queue key is deleted in the
    // txn that takes its loop out of `unresolved`, so a present one is a real waiting loop).
    const seen = new Map<string, string[]>();
    const before = eligible.map((e) => {
      const earlier = seen.get(e.entry.concurrencyKey) ?? [];
      seen.set(e.entry.concurrencyKey, [...earlier, e.queueKey]);
      return earlier;
    });
    // Only `readAhead` loops are read, from a random offset among the first `spread` entries of
    // the head's priority: racing claimers mostly read (and claim) different loops.
    const readAhead = Math.max(1, this.options.readAhead ?? pageSize);
    const headRun = eligible.findIndex((e) => priorityOf(e.queueKey) !== priorityOf(eligible[0]?.queueKey ?? ""));
    const maxOffset = Math.min(this.options.spread ?? 1, headRun === -1 ? eligible.length : headRun);
    const offset = maxOffset > 1 ? Math.floor(Math.random() * maxOffset) : 0;
    const window = eligible
      .slice(offset, offset + readAhead)
      .map((e, i) => ({ ...e, before: before[offset + i] ?? [] }));
    const slotKeys = [...new Set(window.map((e) => e.entry.concurrencyKey))];
    if (this.options.maxRunning !== undefined) slotKeys.push(GLOBAL_SLOT_KEY);
    // With a daily budget, each key's spend of the day: one range per key, in the same read.
    const budgetKeys =
      this.options.budgetPerKeyUsdPerDay !== undefined ? [...new Set(window.map((e) => e.entry.concurrencyKey))] : [];
    const day = utcDay(this.ctx.now());
    const ops: IOperation[] = [
      ...window.map((e) => client.get(keys.loop(e.entry.loopId))),
      ...slotKeys.map((k) => client.getAll().prefix(keys.slotsPrefix(k))),
      ...budgetKeys.map((k) => client.getAll().prefix(keys.spendPrefix(day, k))),
    ];
    // A read-only txn: one round trip for every loop and slot of the window. The compare is
    // irrelevant (both branches read the same).
    const read = await txn(client, [absent(queuePrefix)], ops, ops);
    this.occupied = new Map(
      slotKeys.map((k, i) => [k, new Set(rangeKvs(read, window.length + i).map((kv) => kv.key.toString()))]),
    );
    this.spentDay = day;
    this.spent = new Map(
      budgetKeys.map((k, i) => [
        k,
        rangeKvs(read, window.length + slotKeys.length + i).reduce(
          (sum, kv) => sum + decode(SpendRecord, kv.value, kv.key.toString()).usd,
          0,
        ),
      ]),
    );
    const candidates: Candidate[] = [];
    window.forEach((e, i) => {
      const kv: IKeyValue | undefined = rangeKvs(read, i)[0];
      if (!kv) return;
      const loop = decode(Loop, kv.value, keys.loop(e.entry.loopId));
      if (loop.status.state !== "unresolved" || loop.status.queueKey !== e.queueKey) return;
      candidates.push({ ...e, current: { loop, revision: kv.mod_revision } });
    });
    // The next read continues after the window, so entries of full keys hide nothing behind them.
    const lastInWindow = window[window.length - 1];
    if (lastInWindow && offset + window.length < eligible.length) nextFrom = lastInWindow.queueKey + "\0";
    this.page = spread(candidates, this.options.spread ?? 1);
    return nextFrom;
  }

  private async tryCandidate(c: Candidate): Promise<VersionedLoop | "full" | undefined> {
    const { keys } = this.ctx;
    const budget = this.options.budgetPerKeyUsdPerDay;
    const spent = this.spent.get(c.entry.concurrencyKey) ?? 0;
    if (budget !== undefined && spent >= budget) {
      this.options.onBudgetExceeded?.({
        loopId: c.current.loop.id,
        concurrencyKey: c.entry.concurrencyKey,
        day: this.spentDay,
        spentUsd: Math.round(spent * 1e6) / 1e6,
        budgetUsd: budget,
      });
      return undefined;
    }
    const slots: string[] = [];
    if (this.options.maxRunning !== undefined) {
      const global = freeSlot(
        this.slotsOf(GLOBAL_SLOT_KEY),
        keys.slot(GLOBAL_SLOT_KEY, 0).slice(0, -1),
        this.options.maxRunning,
      );
      if (!global) return "full";
      slots.push(global);
    }
    const limit = this.options.keyLimits?.[c.entry.concurrencyKey] ?? this.options.perKeyLimit ?? 1;
    const keySlot = freeSlot(
      this.slotsOf(c.entry.concurrencyKey),
      keys.slot(c.entry.concurrencyKey, 0).slice(0, -1),
      limit,
    );
    if (!keySlot) return undefined;
    slots.unshift(keySlot);
    const claimed = await this.claim(c, slots);
    if (claimed) {
      for (const s of slots) this.slotsOf(s === keySlot ? c.entry.concurrencyKey : GLOBAL_SLOT_KEY).add(s);
      return claimed;
    }
    this.stats.conflicts++;
    return undefined;
  }

  private slotsOf(key: string): Set<string> {
    let set = this.occupied.get(key);
    if (!set) {
      set = new Set();
      this.occupied.set(key, set);
    }
    return set;
  }

  private async claim(c: Candidate, slots: string[]): Promise<VersionedLoop | undefined> {
    const { client, keys } = this.ctx;
    const { current } = c;
    const at = this.ctx.now().toISOString();
    const result = transition(current.loop, { type: "claimed", schedulerId: this.session.id, at });
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
            schedulerId: this.session.id,
            at,
          } satisfies ClaimRecord),
        )
        .lease(this.session.lease_id),
    ];
    const compares: Compare[] = [
      modIs(keys.loop(current.loop.id), current.revision),
      exists(c.queueKey),
      ...c.before.map(absent),
      ...slots.map(absent),
      ...plan.compares,
    ];
    // On a lost race the failure branch brings the slots back, so the next try picks a free one.
    // The queue's head too: entries of the page that other claimers took meanwhile are dropped,
    // instead of each costing a failed txn.
    const slotKeys = [c.entry.concurrencyKey, ...(slots.length > 1 ? [GLOBAL_SLOT_KEY] : [])];
    const queuePrefix = keys.queuePrefix();
    const failure = [
      ...slotKeys.map((k) => client.getAll().prefix(keys.slotsPrefix(k))),
      client
        .getAll()
        .inRange({ start: queuePrefix, end: prefixEnd(queuePrefix) })
        .limit(this.options.pageSize ?? 32),
    ];
    const res = await txn(client, compares, ops, failure);
    if (res.succeeded) return { loop: plan.loop, revision: res.header.revision };
    slotKeys.forEach((k, i) => this.occupied.set(k, new Set(rangeKvs(res, i).map((kv) => kv.key.toString()))));
    const queued = new Set(rangeKvs(res, slotKeys.length).map((kv) => kv.key.toString()));
    this.page = this.page.filter((p) => queued.has(p.queueKey));
    return undefined;
  }
}

/** `<prefix>/queue/<priority>` of a queue key `<prefix>/queue/<priority>/<enqueuedAt>/<id>`. */
function priorityOf(queueKey: string): string {
  return queueKey.slice(0, queueKey.lastIndexOf("/", queueKey.lastIndexOf("/") - 1));
}

/**
 * The page in claim order: the first `window` entries of the head's priority in random order, then
 * the rest in order. Racing claimers thus mostly try different loops.
 */
function spread(candidates: Candidate[], window: number): Candidate[] {
  const first = candidates[0];
  if (!first || window <= 1) return candidates;
  const head = priorityOf(first.queueKey);
  let n = 0;
  while (n < Math.min(window, candidates.length) && priorityOf((candidates[n] as Candidate).queueKey) === head) n++;
  const shuffled = candidates.slice(0, n);
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as Candidate, shuffled[i] as Candidate];
  }
  return [...shuffled, ...candidates.slice(n)];
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
