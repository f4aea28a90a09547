import {
  CreateLoopInput,
  LIMITS,
  Loop,
  SCHEMA_VERSION,
  SmithError,
  ZERO_COST,
  defaultConcurrencyKey,
  isFinished,
  issuePath,
  newId,
  parsePrd,
  storyProgress,
  tooLarge,
  transition,
  utf8Length,
  type CreateLoopRequest,
  type LoopEvent,
  type LoopState,
  type LoopSourceType,
  type Progress,
  type VersionedLoop,
} from "@smith/core";
import type { IOperation } from "etcd3";
import { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { prefixEnd, utcDay } from "./keys.ts";
import { absent, modIs, rangeKvs, txn, type Compare } from "./txn.ts";
import type { OutboxRepository } from "./outbox.ts";
import { WatchStream, type WatchOptions } from "./watch.ts";

export interface CreateLoopResult extends VersionedLoop {
  /** false when an idempotency key matched an existing loop, which is returned instead. */
  created: boolean;
}

export type CreateBatchItemResult =
  | { index: number; ok: true; created: boolean; loop: Loop; revision: string }
  | { index: number; ok: false; error: { code: SmithError["code"]; message: string; details: SmithError["details"] } };

export interface ListLoopsOptions {
  state?: LoopState | LoopState[];
  /** Exact repo URL. */
  repo?: string;
  source?: LoopSourceType;
  /** The id after which to continue (exclusive), from a previous page's `nextCursor`. */
  cursor?: string;
  /** Page size (default 100, at most LIMITS.pageSize). */
  limit?: number;
  /** `asc` (oldest first, the default) or `desc` (newest first). Ids are time-sortable. */
  order?: "asc" | "desc";
}

export interface ListLoopsResult {
  items: Loop[];
  nextCursor?: string;
  /** The etcd revision the page was read at: watch from revision + 1 to follow it. */
  revision: string;
}

export type LoopChange =
  { type: "put"; loop: Loop; revision: string } | { type: "delete"; id: string; revision: string };

export interface CreateOptions {
  /** Writes (and compares) that go into the create txn; not written when the loop already existed. */
  extra?: (loop: Loop) => { compares?: Compare[]; ops?: IOperation[] };
}

export interface TransitionOptions {
  /** Write only if the loop is still at this mod revision; otherwise CONFLICT. */
  expectedRevision?: string;
  /** Extra operations and compares written in the same transaction (a journal entry, an override). */
  extra?: (next: Loop, prev: Loop) => { compares?: Compare[]; ops?: IOperation[] };
}

/** Backoff before a lost replica's loop may be claimed again, when the caller gives none. */
export const DEFAULT_RETRY_BACKOFF_MS = 5_000;

export class LoopRepository {
  private readonly ctx: StoreContext;
  private readonly outbox: OutboxRepository;

  constructor(ctx: StoreContext, outbox: OutboxRepository) {
    this.ctx = ctx;
    this.outbox = outbox;
  }

  /** Validates and builds a new loop record (no I/O), enforcing every size limit. */
  build(request: CreateLoopRequest, index?: number): Loop {
    const field = (f: string) => (index === undefined ? f : f ? `items[${index}].${f}` : `items[${index}]`);
    const parsed = CreateLoopInput.safeParse(request);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: field(issuePath(i.path)), message: i.message }));
      const first = issues[0];
      throw new SmithError("invalid_argument", first ? `${first.path}: ${first.message}` : "invalid loop", {
        field: first?.path,
        issues,
      });
    }
    const input = parsed.data;
    let progress: Progress = { done: 0, total: 0 };
    if (input.spec.prd.kind === "inline") {
      const bytes = utf8Length(input.spec.prd.content);
      if (bytes > LIMITS.prdBytes) throw tooLarge(field("spec.prd.content"), LIMITS.prdBytes, bytes);
      try {
        progress = storyProgress(parsePrd(input.spec.prd.content));
      } catch {
        // An unparseable inline PRD is the replica's to report (`prd-invalid`, with the
        // validation report in the journal); the API validates before it gets here.
      }
    }
    const now = this.ctx.now();
    const at = now.toISOString();
    const id = newId(now.getTime());
    const loop: Loop = {
      schemaVersion: SCHEMA_VERSION,
      id,
      source: input.source,
      spec: input.spec,
      priority: input.priority,
      concurrencyKey: input.concurrencyKey ?? defaultConcurrencyKey(input.spec.repo.url),
      idempotencyKey: input.idempotencyKey,
      labels: input.labels,
      status: {
        state: "unresolved",
        reason: "queued",
        attempt: 0,
        attemptBase: 0,
        iterationBase: 0,
        iteration: 0,
        progress,
        queueKey: this.ctx.keys.queue(input.priority, now.getTime(), id),
        createdAt: at,
        updatedAt: at,
      },
      cost: { ...ZERO_COST },
      steering: [],
    };
    const bytes = utf8Length(encode(loop));
    if (bytes > LIMITS.loopBytes) throw tooLarge(field("spec"), LIMITS.loopBytes, bytes);
    return loop;
  }

  /**
   * One txn: the loop, its queue key, (when given) its idempotency key, and `extra` writes that
   * belong with the new loop (its first journal entries, its audit event). An idempotent repeat
   * writes none of them.
   */
  async create(request: CreateLoopRequest, options: CreateOptions = {}): Promise<CreateLoopResult> {
    return this.insert(this.build(request), options.extra);
  }

  private async insert(loop: Loop, extra?: CreateOptions["extra"]): Promise<CreateLoopResult> {
    const { client, keys } = this.ctx;
    const loopKey = keys.loop(loop.id);
    const queueKey = loop.status.queueKey;
    if (!queueKey) throw new SmithError("internal", "a new loop has no queue key");
    const compares = [absent(loopKey)];
    const ops: IOperation[] = [
      client.put(loopKey).value(encode(loop)),
      client.put(queueKey).value(encode(queueValue(loop))),
    ];
    const failure: IOperation[] = [];
    if (loop.idempotencyKey) {
      const idemKey = keys.idempotency(loop.idempotencyKey);
      compares.push(absent(idemKey));
      ops.push(client.put(idemKey).value(encode({ schemaVersion: SCHEMA_VERSION, loopId: loop.id })));
      failure.push(client.get(idemKey));
    }
    const more = extra?.(loop);
    const res = await txn(client, [...compares, ...(more?.compares ?? [])], [...ops, ...(more?.ops ?? [])], failure);
    if (res.succeeded) return { loop, revision: res.header.revision, created: true };
    const idem = rangeKvs(res, 0)[0];
    if (!idem) throw new SmithError("conflict", `loop ${loop.id} already exists`);
    const { loopId } = JSON.parse(idem.value.toString()) as { loopId: string };
    const existing = await this.get(loopId);
    if (!existing) {
      throw new SmithError(
        "conflict",
        `idempotency key ${loop.idempotencyKey} points at loop ${loopId}, which is gone`,
      );
    }
    return { ...existing, created: false };
  }

  /**
   * Creates up to LIMITS.batchLoops loops. Every item is validated first: one bad item rejects
   * the whole batch and nothing is written. The writes are then one txn per item (a batch of 100
   * loops exceeds etcd's 128 operations per txn), so the result is per item: a write that fails
   * (etcd unavailable) is reported at its index while the others stand. Items with idempotency
   * keys make a retried batch safe.
   */
  async createBatch(requests: CreateLoopRequest[]): Promise<CreateBatchItemResult[]> {
    if (requests.length > LIMITS.batchLoops) throw tooLarge("items", LIMITS.batchLoops, requests.length, "loops");
    const loops = requests.map((r, i) => this.build(r, i));
    const results: CreateBatchItemResult[] = [];
    // A few writes in flight at once: fast, without flooding etcd with 100 parallel txns.
    const concurrency = 8;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < loops.length; i = next++) {
        const loop = loops[i];
        if (!loop) continue;
        try {
          const r = await this.insert(loop);
          results.push({ index: i, ok: true, created: r.created, loop: r.loop, revision: r.revision });
        } catch (err) {
          const e = err instanceof SmithError ? err : new SmithError("internal", String(err));
          results.push({ index: i, ok: false, error: { code: e.code, message: e.message, details: e.details } });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, loops.length) }, worker));
    return results.sort((a, b) => a.index - b.index);
  }

  async get(id: string): Promise<VersionedLoop | undefined> {
    const key = this.ctx.keys.loop(id);
    const res = await etcdCall(() => this.ctx.client.get(key).exec());
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return { loop: decode(Loop, kv.value, key), revision: kv.mod_revision };
  }

  /** The loop an idempotency key was created with (e.g. `github:owner/repo#12`), if any. */
  async getByIdempotencyKey(idempotencyKey: string): Promise<VersionedLoop | undefined> {
    const key = this.ctx.keys.idempotency(idempotencyKey);
    const raw = await etcdCall(() => this.ctx.client.get(key).string());
    if (!raw) return undefined;
    const { loopId } = JSON.parse(raw) as { loopId: string };
    return this.get(loopId);
  }

  async getOrThrow(id: string): Promise<VersionedLoop> {
    const found = await this.get(id);
    if (!found) throw new SmithError("not_found", `loop ${id} not found`, { field: "id" });
    return found;
  }

  /**
   * Lists loops in id (creation) order with filters. Filters are applied while scanning, so a
   * page is filled across as many etcd ranges as it takes.
   */
  async list(options: ListLoopsOptions = {}): Promise<ListLoopsResult> {
    const { client, keys } = this.ctx;
    const limit = Math.min(Math.max(options.limit ?? 100, 1), LIMITS.pageSize);
    const states =
      options.state === undefined ? undefined : new Set(Array.isArray(options.state) ? options.state : [options.state]);
    const prefix = keys.loopsPrefix();
    const end = prefixEnd(prefix);
    const desc = options.order === "desc";
    let start = options.cursor && !desc ? keys.loop(options.cursor) + "\0" : prefix;
    let stop = options.cursor && desc ? keys.loop(options.cursor) : end;
    const items: Loop[] = [];
    let revision: string | undefined;
    const chunk = Math.max(limit * 2, 50);
    for (;;) {
      // No sort for ascending reads: keys come back in order, and with a sort etcd ignores `limit`.
      const res = await etcdCall(() => {
        const range = client.getAll().inRange({ start, end: stop }).limit(chunk);
        return (desc ? range.sort("Key", "Descend") : range).exec();
      });
      revision ??= res.header.revision;
      for (const kv of res.kvs) {
        const key = kv.key.toString();
        const loop = decode(Loop, kv.value, key);
        if (states && !states.has(loop.status.state)) continue;
        if (options.repo !== undefined && loop.spec.repo.url !== options.repo) continue;
        if (options.source !== undefined && loop.source.type !== options.source) continue;
        items.push(loop);
        if (items.length === limit) {
          return { items, nextCursor: loop.id, revision };
        }
      }
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) break;
      if (desc) stop = last.key.toString();
      else start = last.key.toString() + "\0";
    }
    return { items, revision: revision ?? "0" };
  }

  /** Loop changes from a revision (exclusive of nothing: events at `fromRevision` and later). */
  watch(options: Omit<WatchOptions, "prefix"> = {}): AsyncIterable<LoopChange> & { close(): void } {
    const prefix = this.ctx.keys.loopsPrefix();
    const stream = WatchStream.open(this.ctx.client, { ...options, prefix });
    const iterable = {
      close: () => stream.close(),
      async *[Symbol.asyncIterator](): AsyncGenerator<LoopChange> {
        for await (const ev of stream) {
          // After a reconnect etcd3 resumes the watch from the last revision it delivered.
          if (ev.type === "resync") continue;
          const key = ev.kv.key.toString();
          if (ev.type === "delete")
            yield { type: "delete", id: key.slice(prefix.length), revision: ev.kv.mod_revision };
          else yield { type: "put", loop: decode(Loop, ev.kv.value, key), revision: ev.kv.mod_revision };
        }
      },
    };
    return iterable;
  }

  /**
   * Applies a lifecycle event and writes the result with a txn that compares the loop's mod
   * revision. With `expectedRevision`, a lost race is CONFLICT. Without it, the event is
   * re-evaluated against the fresh loop a few times, which is safe because `transition` checks
   * it against whatever state it finds.
   */
  async transition(id: string, event: LoopEvent, options: TransitionOptions = {}): Promise<VersionedLoop> {
    const attempts = options.expectedRevision ? 1 : 5;
    for (let i = 0; ; i++) {
      const current = await this.getOrThrow(id);
      if (options.expectedRevision && current.revision !== options.expectedRevision) {
        throw conflict(id, options.expectedRevision, current.revision);
      }
      const result = transition(current.loop, event);
      if (!result.ok) {
        const code = result.error.code;
        throw new SmithError(code, `loop ${id}: ${result.error.message}`, {
          field: "event",
          from: result.error.from,
          event: result.error.event,
        });
      }
      if (!result.changed) return current;
      const { ops, compares, loop } = this.plan(current.loop, result.loop);
      const extra = options.extra?.(loop, current.loop);
      const spend = await this.spendWrites(current.loop, loop);
      const res = await txn(
        this.ctx.client,
        [modIs(this.ctx.keys.loop(id), current.revision), ...compares, ...spend.compares, ...(extra?.compares ?? [])],
        [...ops, ...spend.ops, ...(extra?.ops ?? [])],
      );
      if (res.succeeded) return { loop, revision: res.header.revision };
      if (i + 1 >= attempts) throw conflict(id, current.revision);
    }
  }

  /**
   * When a write adds cost, the loop's spend of the day (UTC) grows by as much in the same txn:
   * `spend/<day>/<concurrencyKey>/<loop>`, read first and compared, so that the per-key daily
   * budget (checked at claim time) is a range read of one day and one key, never a scan of loops.
   * Only this loop writes its key: the compare fails only when the loop's own write raced.
   */
  private async spendWrites(prev: Loop, next: Loop): Promise<{ ops: IOperation[]; compares: Compare[] }> {
    const added = next.cost.usd - prev.cost.usd;
    if (!(added > 0)) return { ops: [], compares: [] };
    const { client, keys } = this.ctx;
    const day = utcDay(this.ctx.now());
    const key = keys.spend(day, next.concurrencyKey, next.id);
    const res = await etcdCall(() => client.get(key).exec());
    const kv = res.kvs[0];
    const before = kv ? (decode(SpendRecord, kv.value, key).usd ?? 0) : 0;
    const record: SpendRecord = {
      schemaVersion: SCHEMA_VERSION,
      loopId: next.id,
      concurrencyKey: next.concurrencyKey,
      day,
      usd: Math.round((before + added) * 1e6) / 1e6,
    };
    return {
      ops: [client.put(key).value(encode(record))],
      compares: [kv ? modIs(key, kv.mod_revision) : absent(key)],
    };
  }

  /**
   * The writes that go with a state change, in the same txn as the loop: entering `unresolved`
   * enqueues it; leaving `unresolved` dequeues it; leaving `running` releases its slots, its
   * claim, its replica lock and heartbeat (the attempt is over: a replica still writing with it
   * is fenced out); entering `flatline` on a loop from a GitHub issue queues the comment on that
   * issue in the outbox, whoever decided it (replica, reconciler, operator).
   */
  plan(prev: Loop, next: Loop): { loop: Loop; ops: IOperation[]; compares: Compare[] } {
    const { client, keys } = this.ctx;
    const ops: IOperation[] = [];
    const compares: Compare[] = [];
    let loop = next;
    const from = prev.status.state;
    const to = next.status.state;
    if (from === "unresolved" && to !== "unresolved" && prev.status.queueKey) {
      ops.push(client.delete().key(prev.status.queueKey));
      loop = { ...loop, status: { ...loop.status, queueKey: undefined } };
    }
    if (from === "running" && to !== "running") {
      for (const slot of prev.status.slots ?? []) ops.push(client.delete().key(slot));
      ops.push(client.delete().key(keys.claim(prev.id)));
      ops.push(client.delete().key(keys.lock(prev.id)));
      ops.push(client.delete().key(keys.heartbeat(prev.id)));
      loop = { ...loop, status: { ...loop.status, slots: undefined } };
    }
    if (to === "unresolved" && from !== "unresolved") {
      const enqueuedAt = this.ctx.now().getTime();
      const queueKey = keys.queue(loop.priority, enqueuedAt, loop.id);
      loop = { ...loop, status: { ...loop.status, queueKey } };
      ops.push(client.put(queueKey).value(encode(queueValue(loop))));
    }
    if (to === "flatline" && from !== "flatline" && loop.source.type === "github_issue")
      ops.push(this.outbox.flatlineOp(loop));
    ops.unshift(client.put(keys.loop(loop.id)).value(encode(loop)));
    return { loop, ops, compares };
  }

  /**
   * Deletes a finished loop (`synced`, `cancelled` or `flatline`) and everything stored for it:
   * journal, journal head and id index, handoffs, overrides, the per-loop audit index and its
   * idempotency key and its notification records — in one txn that compares the loop's revision, so a loop that changed
   * meanwhile (an operator retried it) is not purged. Audit events themselves stay: they are the
   * record of who did what. Returns false when the loop is gone or not finished.
   */
  async purge(
    id: string,
    expectedRevision?: string,
    extra?: (loop: Loop) => { compares: Compare[]; ops: IOperation[] },
  ): Promise<boolean> {
    const { client, keys } = this.ctx;
    const current = await this.get(id);
    if (!current || !isFinished(current.loop.status.state)) return false;
    if (expectedRevision && current.revision !== expectedRevision)
      throw conflict(id, expectedRevision, current.revision);
    const ops: IOperation[] = [
      client.delete().key(keys.loop(id)),
      client.delete().prefix(keys.journalPrefix(id)),
      client.delete().key(keys.journalHead(id)),
      client.delete().prefix(keys.journalIdsPrefix(id)),
      client.delete().prefix(keys.handoffsPrefix(id)),
      client.delete().prefix(keys.overridesPrefix(id)),
      client.delete().prefix(keys.auditByLoopPrefix(id)),
      client.delete().prefix(keys.notificationsPrefix(id)),
      client.delete().prefix(keys.outboxPrefix(id)),
    ];
    if (current.loop.idempotencyKey) ops.push(client.delete().key(keys.idempotency(current.loop.idempotencyKey)));
    // The caller's writes (the audit event of the deletion) land in the same txn: no deletion goes unrecorded.
    const more = extra?.(current.loop);
    const res = await txn(
      client,
      [modIs(keys.loop(id), current.revision), ...(more?.compares ?? [])],
      [...ops, ...(more?.ops ?? [])],
    );
    if (!res.succeeded) throw conflict(id, current.revision);
    return true;
  }

  /** Read-modify-write of a loop that is not a lifecycle event (steering messages), revision-checked. */
  async update(id: string, change: (loop: Loop) => Loop): Promise<VersionedLoop> {
    for (let i = 0; i < 5; i++) {
      const current = await this.getOrThrow(id);
      const loop = change(current.loop);
      const bytes = utf8Length(encode(loop));
      if (bytes > LIMITS.loopBytes) throw tooLarge("loop", LIMITS.loopBytes, bytes);
      const key = this.ctx.keys.loop(id);
      const res = await txn(
        this.ctx.client,
        [modIs(key, current.revision)],
        [this.ctx.client.put(key).value(encode(loop))],
      );
      if (res.succeeded) return { loop, revision: res.header.revision };
    }
    throw conflict(id);
  }
}

/** What one loop spent on one UTC day (`spend/<day>/<concurrencyKey>/<loop>`). */
export const SpendRecord = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  loopId: z.string(),
  concurrencyKey: z.string(),
  day: z.string(),
  usd: z.number().min(0),
});
export type SpendRecord = z.infer<typeof SpendRecord>;

export interface QueueValue {
  schemaVersion: number;
  loopId: string;
  concurrencyKey: string;
  /** Claimers skip the entry until then (retry backoff). */
  notBefore?: string;
}

function queueValue(loop: Loop): QueueValue {
  return {
    schemaVersion: SCHEMA_VERSION,
    loopId: loop.id,
    concurrencyKey: loop.concurrencyKey,
    ...(loop.status.notBefore ? { notBefore: loop.status.notBefore } : {}),
  };
}

function conflict(id: string, expected?: string, actual?: string): SmithError {
  const detail = expected && actual ? ` (expected revision ${expected}, found ${actual})` : "";
  return new SmithError("conflict", `loop ${id} was changed concurrently${detail}; read it again and retry`, {
    field: "id",
    ...(expected ? { expectedRevision: expected } : {}),
    ...(actual ? { actualRevision: actual } : {}),
  });
}
