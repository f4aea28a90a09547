import {
  JournalEntry,
  JournalEntryInput,
  LIMITS,
  SCHEMA_VERSION,
  SmithError,
  TXN_BUDGET_BYTES,
  issuePath,
  newId,
  tooLarge,
  utf8Length,
  type JournalEntryRequest,
} from "@smith/core";
import { ExponentialBackoff, type IBackoff } from "cockatiel";
import type { IKeyValue, IOperation } from "etcd3";
import { setTimeout as delay } from "node:timers/promises";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { prefixEnd } from "./keys.ts";
import { absent, exists, modIs, rangeKvs, txn, type Compare } from "./txn.ts";

/**
 * etcd refuses a txn with more than 128 operations (--max-txn-ops): an entry costs two puts (the
 * entry and its id index) and one compare, plus the head counter and a few fencing compares.
 */
const ENTRIES_PER_TXN = 50;

/**
 * Entries decoded from watch events, by event. The consumers of a shared watch get the same `kv`
 * objects, so each appended entry is parsed and validated once per process however many tails
 * follow its loop; the entries are read-only for everyone.
 */
const decodedEvents = new WeakMap<IKeyValue, JournalEntry>();

function decodeShared(kv: IKeyValue, key: string): JournalEntry {
  let entry = decodedEvents.get(kv);
  if (!entry) {
    entry = decode(JournalEntry, kv.value, key);
    decodedEvents.set(kv, entry);
  }
  return entry;
}

export interface AppendOptions {
  /** Extra compares that must hold (the replica lock's fencing compare). */
  fence?: Compare[];
  /** Default correlation id for entries that carry none. */
  correlationId?: string;
}

export interface TailOptions {
  /** Deliver entries with seq > afterSeq (0: from the start). */
  afterSeq?: number;
  signal?: AbortSignal;
  /** Watch events buffered before the tail falls back to reading etcd in pages. */
  maxBuffered?: number;
}

export interface TailBatchOptions extends TailOptions {
  /** Most entries in one array (default 200). */
  maxEntries?: number;
}

interface Head {
  seq: number;
  revision?: string;
}

export class JournalRepository {
  private readonly ctx: StoreContext;
  /**
   * The head (last seq and its revision) this process last wrote, per loop. A loop's journal
   * usually has one writer (its replica, through one API), so the next append can skip reading
   * the head; a stale entry only costs one failed compare and a re-read.
   */
  private readonly heads = new Map<string, Head>();

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /** Validates entries and enforces every size limit before etcd sees anything. */
  prepare(loopId: string, requests: JournalEntryRequest[], correlationId?: string): JournalEntry[] {
    return this.prepareSized(loopId, requests, correlationId).map((p) => p.entry);
  }

  /** prepare(), with each entry's encoded size (with seq 0), so that a caller need not encode it again. */
  private prepareSized(
    loopId: string,
    requests: JournalEntryRequest[],
    correlationId?: string,
  ): { entry: JournalEntry; bytes: number }[] {
    if (requests.length > LIMITS.journalBatchEntries) {
      throw tooLarge("entries", LIMITS.journalBatchEntries, requests.length, "entries");
    }
    const ts = this.ctx.now().toISOString();
    return requests.map((request, i) => {
      const messageBytes = typeof request.message === "string" ? utf8Length(request.message) : 0;
      if (messageBytes > LIMITS.journalMessageBytes) {
        throw tooLarge(`entries[${i}].message`, LIMITS.journalMessageBytes, messageBytes);
      }
      const parsed = JournalEntryInput.safeParse(request);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((x) => ({
          path: issuePath(x.path, `entries[${i}]`),
          message: x.message,
        }));
        throw new SmithError("invalid_argument", `${issues[0]?.path}: ${issues[0]?.message}`, {
          field: issues[0]?.path,
          issues,
        });
      }
      // In the schema's key order, as decode() gives a stored entry back: the copy that append()
      // hands to this process's tails then serializes like the one a watch event brings.
      const entry: JournalEntry = {
        id: parsed.data.id ?? newId(),
        ...parsed.data,
        correlationId: parsed.data.correlationId ?? correlationId ?? "",
        schemaVersion: SCHEMA_VERSION,
        loopId,
        seq: 0,
        ts,
      };
      const bytes = utf8Length(encode(entry));
      if (bytes > LIMITS.journalEntryBytes) throw tooLarge(`entries[${i}]`, LIMITS.journalEntryBytes, bytes);
      return { entry, bytes };
    });
  }

  /**
   * Appends entries with gap-free sequence numbers, in order. Idempotent by entry id: an entry
   * whose id is already in the journal is not written again (its stored copy is returned), so a
   * writer may retry a batch whose answer it lost. Large batches are written in several txns,
   * each under etcd's operation and size limits. The entries returned are also handed to this
   * process's tails of the loop (`announce`): they are read-only.
   */
  async append(loopId: string, requests: JournalEntryRequest[], options: AppendOptions = {}): Promise<JournalEntry[]> {
    const entries = this.prepareSized(loopId, requests, options.correlationId);
    const out: JournalEntry[] = [];
    let chunk: JournalEntry[] = [];
    let bytes = 0;
    for (const { entry, bytes: encoded } of entries) {
      // The seq, still 0 in `encoded`, and the id key add well under the 128 bytes of slack.
      const size = encoded + 128;
      if (chunk.length >= ENTRIES_PER_TXN || bytes + size > TXN_BUDGET_BYTES) {
        out.push(...(await this.appendChunk(loopId, chunk, options.fence ?? [])));
        chunk = [];
        bytes = 0;
      }
      chunk.push(entry);
      bytes += size;
    }
    if (chunk.length > 0) out.push(...(await this.appendChunk(loopId, chunk, options.fence ?? [])));
    return out;
  }

  private async appendChunk(loopId: string, chunk: JournalEntry[], fence: Compare[]): Promise<JournalEntry[]> {
    const { client, keys } = this.ctx;
    const headKey = keys.journalHead(loopId);
    const loopKey = keys.loop(loopId);
    let pending = chunk;
    const already: JournalEntry[] = [];
    // Retries only on a lost race for the head counter (another writer appended first).
    for (let round = 0; round < 100; round++) {
      if (pending.length === 0) break;
      const head = (round === 0 ? this.heads.get(loopId) : undefined) ?? (await this.head(loopId));
      const compares: Compare[] = [
        head.revision ? modIs(headKey, head.revision) : absent(headKey),
        exists(loopKey),
        ...fence,
        ...pending.map((e) => absent(keys.journalId(loopId, e.id))),
      ];
      const ops: IOperation[] = [];
      const written = pending.map((e, i) => ({ ...e, seq: head.seq + i + 1 }));
      const encoded = written.map((e) => encode(e));
      written.forEach((e, i) => {
        ops.push(client.put(keys.journal(loopId, e.seq)).value(encoded[i] as string));
        ops.push(client.put(keys.journalId(loopId, e.id)).value(String(e.seq)));
      });
      ops.push(client.put(headKey).value(encode({ schemaVersion: SCHEMA_VERSION, seq: head.seq + written.length })));
      const failure: IOperation[] = [
        client.get(loopKey),
        ...pending.map((e) => client.get(keys.journalId(loopId, e.id))),
      ];
      const res = await txn(client, compares, ops, failure);
      if (res.succeeded) {
        this.remember(loopId, { seq: head.seq + written.length, revision: res.header.revision });
        this.announce(loopId, written, encoded, res.header.revision);
        return [...already, ...written].sort((a, b) => a.seq - b.seq);
      }
      this.heads.delete(loopId);

      if (rangeKvs(res, 0).length === 0)
        throw new SmithError("not_found", `loop ${loopId} not found`, { field: "loopId" });
      const known: number[] = [];
      pending = pending.filter((e, i) => {
        const kv = rangeKvs(res, i + 1)[0];
        if (kv) known.push(Number(kv.value.toString()));
        return !kv;
      });
      for (const seq of known) {
        const stored = await this.get(loopId, seq);
        if (stored) already.push(stored);
      }
      if (fence.length > 0 && known.length === 0 && (await this.head(loopId)).revision === head.revision) {
        // Neither the head nor the ids explain the failure: the fence did not hold.
        throw new SmithError("stale_attempt", `loop ${loopId}: the writer's attempt is no longer current`, {
          field: "attempt",
        });
      }
    }
    if (pending.length === 0) return already.sort((a, b) => a.seq - b.seq);
    throw new SmithError("conflict", `loop ${loopId}: journal append kept losing races; retry`);
  }

  /**
   * The writes of a new loop's first entries (seq 1..n), for the txn that creates the loop: the
   * journal then never lacks its "created" entry, and creating costs one txn, not two.
   */
  planFirst(
    loopId: string,
    requests: JournalEntryRequest[],
    correlationId?: string,
  ): { compares: Compare[]; ops: IOperation[] } {
    const { client, keys } = this.ctx;
    const entries = this.prepare(loopId, requests, correlationId).map((e, i) => ({ ...e, seq: i + 1 }));
    if (entries.length > ENTRIES_PER_TXN) throw tooLarge("entries", ENTRIES_PER_TXN, entries.length, "entries");
    const ops: IOperation[] = entries.flatMap((e) => [
      client.put(keys.journal(loopId, e.seq)).value(encode(e)),
      client.put(keys.journalId(loopId, e.id)).value(String(e.seq)),
    ]);
    ops.push(
      client.put(keys.journalHead(loopId)).value(encode({ schemaVersion: SCHEMA_VERSION, seq: entries.length })),
    );
    return { compares: [absent(keys.journalHead(loopId))], ops };
  }

  /**
   * Gives the entries this process just committed to its own tails of the loop at once, as the
   * puts etcd's watch reports (same keys, values and revision), already decoded. A tail delivers
   * whichever copy it reads first and drops the other by seq; a tail that is behind (another
   * process appended in between and its event has not come yet) sees a gap and re-reads etcd,
   * so an early copy can neither reorder nor skip an entry.
   */
  private announce(loopId: string, entries: JournalEntry[], encoded: string[], revision: string): void {
    const { keys, watches } = this.ctx;
    const kvs = entries.map((e, i): IKeyValue => {
      const kv: IKeyValue = {
        key: Buffer.from(keys.journal(loopId, e.seq)),
        value: Buffer.from(encoded[i] as string),
        create_revision: revision,
        mod_revision: revision,
        version: "1",
        lease: "0",
      };
      decodedEvents.set(kv, e);
      return kv;
    });
    watches.announce(keys.journalPrefix(loopId), kvs);
  }

  private remember(loopId: string, head: Head): void {
    // Bounded: a long-lived API process sees many loops.
    if (this.heads.size >= 10_000) {
      const oldest = this.heads.keys().next().value;
      if (oldest !== undefined) this.heads.delete(oldest);
    }
    this.heads.delete(loopId);
    this.heads.set(loopId, head);
  }

  async head(loopId: string): Promise<Head> {
    const key = this.ctx.keys.journalHead(loopId);
    const res = await etcdCall(() => this.ctx.client.get(key).exec());
    const kv = res.kvs[0];
    if (!kv) return { seq: 0 };
    const value = JSON.parse(kv.value.toString()) as { seq: number };
    return { seq: value.seq, revision: kv.mod_revision };
  }

  async get(loopId: string, seq: number): Promise<JournalEntry | undefined> {
    const key = this.ctx.keys.journal(loopId, seq);
    const res = await etcdCall(() => this.ctx.client.get(key).exec());
    const kv = res.kvs[0];
    return kv ? decode(JournalEntry, kv.value, key) : undefined;
  }

  /**
   * Entries with seq > afterSeq, oldest first, at most `limit` (default 100, at most 500). With
   * `order: "desc"`: the newest entries with seq < beforeSeq (default: all), newest first — the
   * end of a journal in one read.
   */
  async list(
    loopId: string,
    options: { afterSeq?: number; beforeSeq?: number; limit?: number; order?: "asc" | "desc" } = {},
  ): Promise<{ entries: JournalEntry[]; more: boolean; revision: string }> {
    const { client, keys } = this.ctx;
    const limit = Math.min(Math.max(options.limit ?? 100, 1), LIMITS.pageSize);
    const desc = options.order === "desc";
    const start = keys.journal(loopId, (options.afterSeq ?? 0) + 1);
    const end =
      desc && options.beforeSeq !== undefined
        ? keys.journal(loopId, Math.max(1, options.beforeSeq))
        : prefixEnd(keys.journalPrefix(loopId));
    // No sort for ascending reads: keys come back in order, and with a sort etcd ignores `limit`.
    const res = await etcdCall(() => {
      const range = client.getAll().inRange({ start, end }).limit(limit);
      return (desc ? range.sort("Key", "Descend") : range).exec();
    });
    return {
      entries: res.kvs.map((kv) => decode(JournalEntry, kv.value, kv.key.toString())),
      more: Boolean(res.more),
      revision: res.header.revision,
    };
  }

  /**
   * Follows a loop's journal: every entry with seq > afterSeq exactly once, in order, then new
   * ones as they are appended. It subscribes to the watch first and then backfills, de-duplicating
   * by seq, so nothing written in between is missed or doubled. A gap, a reconnect, an overflowing
   * buffer or a lost watch (etcd restarted) are all handled the same way: re-read from the next
   * expected seq, then follow again.
   */
  async *tail(loopId: string, options: TailOptions = {}): AsyncGenerator<JournalEntry> {
    for await (const batch of this.tailBatches(loopId, options)) yield* batch;
  }

  /**
   * The same entries as `tail`, in arrays: each array holds the entries that are ready at once
   * (one append's txn arrives as one watch response; a backfill page), at most `maxEntries`
   * (default 200). A busy journal is a few arrays instead of one step per entry for each
   * follower; an idle one still gives each entry at once.
   */
  async *tailBatches(loopId: string, options: TailBatchOptions = {}): AsyncGenerator<JournalEntry[]> {
    let next = (options.afterSeq ?? 0) + 1;
    const signal = options.signal;
    const maxEntries = Math.max(1, options.maxEntries ?? 200);
    // etcd away or a watch fallen behind: wait 100 ms, doubling with jitter up to 2 s, then re-read.
    const backoffs = new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 });
    let backoff: IBackoff<unknown> | undefined;
    const prefix = this.ctx.keys.journalPrefix(loopId);

    const backfill = async function* (this: JournalRepository): AsyncGenerator<JournalEntry[]> {
      for (;;) {
        const page = await this.list(loopId, { afterSeq: next - 1, limit: LIMITS.pageSize });
        let batch: JournalEntry[] = [];
        for (const e of page.entries) {
          if (e.seq !== next) break;
          next++;
          batch.push(e);
          if (batch.length === maxEntries) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length > 0) yield batch;
        if (!page.more) return;
      }
    }.bind(this);

    while (!signal?.aborted) {
      const stream = this.ctx.watches.open(prefix, { maxBuffered: options.maxBuffered });
      const onAbort = () => stream.close();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await stream.ready();
        yield* backfill();
        backoff = undefined;
        for await (const first of stream) {
          // This event and the ones already buffered behind it, in one array. A resync or a gap
          // sends what was gathered, re-reads from `next`, then goes on with the rest.
          let batch: JournalEntry[] = [];
          for (const item of [first, ...stream.takeBuffered(maxEntries - 1)]) {
            if (item.type === "resync") {
              if (batch.length > 0) yield batch;
              batch = [];
              yield* backfill();
              continue;
            }
            if (item.type !== "put") continue;
            const key = item.kv.key.toString();
            const seq = Number(key.slice(prefix.length));
            if (!Number.isFinite(seq) || seq < next) continue;
            if (seq > next) {
              if (batch.length > 0) yield batch;
              batch = [];
              yield* backfill();
              continue;
            }
            batch.push(decodeShared(item.kv, key));
            next++;
          }
          if (batch.length > 0) yield batch;
        }
        if (signal?.aborted) return;
      } catch (err) {
        if (signal?.aborted) return;
        if (!(err instanceof SmithError) || !err.recoverable) throw err;
        // etcd is away (restart, cut connection) or we fell behind: wait, then re-read from `next`.
        backoff = (backoff ?? backoffs).next(undefined);
        await delay(backoff.duration, undefined, { signal }).catch(() => undefined);
      } finally {
        signal?.removeEventListener("abort", onAbort);
        stream.close();
      }
    }
  }
}
