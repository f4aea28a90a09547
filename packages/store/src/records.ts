import {
  AuditEvent,
  AuditEventInput,
  Handoff,
  HandoffInput,
  LIMITS,
  Override,
  Reason,
  SCHEMA_VERSION,
  SmithError,
  issuePath,
  newId,
  tooLarge,
  utf8Length,
  type Actor,
  type AuditEventRequest,
  type LoopState,
  type VersionedLoop,
} from "@smith/core";
import type { IOperation } from "etcd3";
import type { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { prefixEnd } from "./keys.ts";
import type { LoopRepository } from "./loops.ts";
import { absent, exists, txn, type Compare } from "./txn.ts";
import { WatchStream, type WatchOptions } from "./watch.ts";

function invalid(field: string, error: z.ZodError): SmithError {
  const issues = error.issues.map((i) => ({ path: issuePath(i.path, field), message: i.message }));
  return new SmithError("invalid_argument", `${issues[0]?.path}: ${issues[0]?.message}`, {
    field: issues[0]?.path,
    issues,
  });
}

/** An ISO time of a list filter; an unparseable one would silently match nothing. */
function parseTime(field: "from" | "to", value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new SmithError("invalid_argument", `${field}: must be an ISO date-time, got ${JSON.stringify(value)}`, {
      field,
    });
  return ms;
}

export class HandoffRepository {
  private readonly ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /** Writes the handoff of one attempt (writing it again replaces it). */
  async put(
    loopId: string,
    attempt: number,
    input: z.input<typeof HandoffInput>,
    fence: Compare[] = [],
  ): Promise<Handoff> {
    // A handoff of attempt 0 would be written but fail its own schema on every later read,
    // breaking list() and latest() for the whole loop.
    if (!Number.isInteger(attempt) || attempt < 1) {
      throw new SmithError("invalid_argument", `attempt: must be a positive integer, got ${attempt}`, {
        field: "attempt",
      });
    }
    const parsed = HandoffInput.safeParse(input);
    if (!parsed.success) throw invalid("handoff", parsed.error);
    const handoff: Handoff = {
      ...parsed.data,
      schemaVersion: SCHEMA_VERSION,
      loopId,
      attempt,
      createdAt: this.ctx.now().toISOString(),
    };
    const value = encode(handoff);
    const bytes = utf8Length(value);
    if (bytes > LIMITS.handoffBytes) throw tooLarge("handoff", LIMITS.handoffBytes, bytes);
    const { client, keys } = this.ctx;
    const res = await txn(
      client,
      [exists(keys.loop(loopId)), ...fence],
      [client.put(keys.handoff(loopId, attempt)).value(value)],
    );
    if (!res.succeeded) {
      const loop = await etcdCall(() => client.get(keys.loop(loopId)).exists());
      if (!loop) throw new SmithError("not_found", `loop ${loopId} not found`, { field: "loopId" });
      throw new SmithError("stale_attempt", `loop ${loopId}: attempt ${attempt} no longer holds the replica lock`, {
        field: "attempt",
      });
    }
    return handoff;
  }

  async list(loopId: string): Promise<Handoff[]> {
    const prefix = this.ctx.keys.handoffsPrefix(loopId);
    const res = await etcdCall(() => this.ctx.client.getAll().prefix(prefix).exec());
    return res.kvs.map((kv) => decode(Handoff, kv.value, kv.key.toString()));
  }

  async latest(loopId: string): Promise<Handoff | undefined> {
    const prefix = this.ctx.keys.handoffsPrefix(loopId);
    const res = await etcdCall(() => this.ctx.client.getAll().prefix(prefix).sort("Key", "Descend").limit(1).exec());
    const kv = res.kvs[0];
    return kv ? decode(Handoff, kv.value, kv.key.toString()) : undefined;
  }
}

export class OverrideRepository {
  private readonly ctx: StoreContext;
  private readonly loops: LoopRepository;

  constructor(ctx: StoreContext, loops: LoopRepository) {
    this.ctx = ctx;
    this.loops = loops;
  }

  /**
   * An operator forces a state (only where the lifecycle's FORCE_TABLE allows). The override
   * record is written in the same txn as the loop, so neither exists without the other.
   */
  async force(
    loopId: string,
    to: LoopState,
    reason: string,
    actor: Actor,
    options: { correlationId?: string; expectedRevision?: string } = {},
  ): Promise<{ loop: VersionedLoop; override: Override }> {
    const why = Reason.safeParse(reason);
    if (!why.success) throw invalid("reason", why.error);
    const existing = await this.list(loopId);
    const seq = (existing[existing.length - 1]?.seq ?? 0) + 1;
    let record: Override | undefined;
    const { client, keys } = this.ctx;
    const at = this.ctx.now().toISOString();
    const loop = await this.loops.transition(
      loopId,
      { type: "forceState", to, reason: why.data, at },
      {
        expectedRevision: options.expectedRevision,
        extra: (_next, prev) => {
          record = {
            schemaVersion: SCHEMA_VERSION,
            loopId,
            seq,
            actor,
            from: prev.status.state,
            to,
            reason: why.data,
            reasonCode: "operator-override",
            at,
            correlationId: options.correlationId ?? "",
          };
          const key = keys.override(loopId, seq);
          return { compares: [absent(key)], ops: [client.put(key).value(encode(record))] };
        },
      },
    );
    if (!record) throw new SmithError("internal", "override record was not written");
    return { loop, override: record };
  }

  async list(loopId: string): Promise<Override[]> {
    const prefix = this.ctx.keys.overridesPrefix(loopId);
    const res = await etcdCall(() => this.ctx.client.getAll().prefix(prefix).exec());
    return res.kvs.map((kv) => decode(Override, kv.value, kv.key.toString()));
  }
}

export interface AuditChange {
  event: AuditEvent;
  revision: string;
}

export interface AuditListOptions {
  loopId?: string;
  /** ISO times; `from` inclusive, `to` exclusive. */
  from?: string;
  to?: string;
  limit?: number;
  /** Where the previous page ended: its `nextCursor`, passed back unchanged (opaque). */
  cursor?: string;
}

export class AuditRepository {
  private readonly ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /** Appends an audit event (and its per-loop index entry) in one txn. */
  async append(request: AuditEventRequest): Promise<AuditEvent> {
    const { event, compares, ops } = this.plan(request);
    await txn(this.ctx.client, compares, ops);
    return event;
  }

  /** Validates an event and returns its writes, for a caller's own txn (a loop's create). */
  plan(
    request: AuditEventRequest,
    options: { indexByLoop?: boolean } = {},
  ): { event: AuditEvent; compares: Compare[]; ops: IOperation[] } {
    const parsed = AuditEventInput.safeParse(request);
    if (!parsed.success) throw invalid("audit", parsed.error);
    const now = this.ctx.now();
    const event: AuditEvent = {
      ...parsed.data,
      schemaVersion: SCHEMA_VERSION,
      id: newId(now.getTime()),
      at: now.toISOString(),
    };
    const value = encode(event);
    const bytes = utf8Length(value);
    if (bytes > LIMITS.journalEntryBytes) throw tooLarge("audit", LIMITS.journalEntryBytes, bytes);
    const { client, keys } = this.ctx;
    const key = keys.audit(now, event.id);
    const ops: IOperation[] = [client.put(key).value(value)];
    // A loop's deletion deletes its index in the same txn, so its own event goes unindexed.
    if (event.loopId && options.indexByLoop !== false)
      ops.push(client.put(keys.auditByLoop(event.loopId, event.id)).value(key));
    return { event, compares: [absent(key)], ops };
  }

  /**
   * New audit events from a revision on, fed by an etcd watch on the audit prefix (deletions by
   * the retention pass are not events). `revision` is the etcd revision of the write: a resume
   * point that survives an API restart.
   */
  watch(options: Omit<WatchOptions, "prefix"> = {}): AsyncIterable<AuditChange> & { close(): void } {
    const prefix = this.ctx.keys.auditPrefix();
    const stream = WatchStream.open(this.ctx.client, { ...options, prefix });
    return {
      close: () => stream.close(),
      async *[Symbol.asyncIterator](): AsyncGenerator<AuditChange> {
        for await (const ev of stream) {
          if (ev.type !== "put") continue;
          yield { event: decode(AuditEvent, ev.kv.value, ev.kv.key.toString()), revision: ev.kv.mod_revision };
        }
      },
    };
  }

  /**
   * The newest `limit` events, oldest first, and the revision they were read at: a watch from the
   * next revision continues exactly where they end.
   */
  async recent(limit: number): Promise<{ items: AuditEvent[]; revision: string }> {
    const { client, keys } = this.ctx;
    const n = Math.min(Math.max(limit, 0), LIMITS.pageSize);
    if (n === 0) {
      const res = await etcdCall(() => client.get(keys.auditPrefix()).exec());
      return { items: [], revision: res.header.revision };
    }
    const res = await etcdCall(() => client.getAll().prefix(keys.auditPrefix()).sort("Key", "Descend").limit(n).exec());
    const items = res.kvs.map((kv) => decode(AuditEvent, kv.value, kv.key.toString())).reverse();
    return { items, revision: res.header.revision };
  }

  /** Events in time order, by loop or by time range, paginated. */
  async list(options: AuditListOptions = {}): Promise<{ items: AuditEvent[]; nextCursor?: string }> {
    const { client, keys } = this.ctx;
    const limit = Math.min(Math.max(options.limit ?? 100, 1), LIMITS.pageSize);
    const fromMs = parseTime("from", options.from);
    const toMs = parseTime("to", options.to);
    const inTime = (e: AuditEvent) =>
      (fromMs === undefined || Date.parse(e.at) >= fromMs) && (toMs === undefined || Date.parse(e.at) < toMs);
    if (options.loopId) {
      const prefix = keys.auditByLoopPrefix(options.loopId);
      const start = options.cursor ? keys.auditByLoop(options.loopId, options.cursor) + "\0" : prefix;
      const res = await etcdCall(() =>
        client
          .getAll()
          .inRange({ start, end: prefixEnd(prefix) })
          .limit(limit)
          .exec(),
      );
      const items: AuditEvent[] = [];
      for (const kv of res.kvs) {
        const eventKey = kv.value.toString();
        const raw = await etcdCall(() => client.get(eventKey).buffer());
        if (raw) {
          const e = decode(AuditEvent, raw, eventKey);
          if (inTime(e)) items.push(e);
        }
      }
      const last = res.kvs[res.kvs.length - 1];
      return { items, nextCursor: res.more && last ? last.key.toString().slice(prefix.length) : undefined };
    }
    const prefix = keys.auditPrefix();
    // The cursor is the last key read, relative to the prefix (`yyyy/mm/dd/<id>`). It cannot be
    // derived from the event id: ids are monotonic per process, so after the clock steps back an
    // id's time is later than the `now` that named the event's day key.
    let start = options.cursor
      ? prefix + options.cursor + "\0"
      : fromMs !== undefined
        ? keys.auditDayPrefix(new Date(fromMs))
        : prefix;
    const end = toMs !== undefined ? prefixEnd(keys.auditDayPrefix(new Date(toMs))) : prefixEnd(prefix);
    const items: AuditEvent[] = [];
    for (;;) {
      const res = await etcdCall(() => client.getAll().inRange({ start, end }).limit(limit).exec());
      for (const kv of res.kvs) {
        const e = decode(AuditEvent, kv.value, kv.key.toString());
        if (!inTime(e)) continue;
        items.push(e);
        if (items.length === limit) return { items, nextCursor: kv.key.toString().slice(prefix.length) };
      }
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) return { items };
      start = last.key.toString() + "\0";
    }
  }
}
