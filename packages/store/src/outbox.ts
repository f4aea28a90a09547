import { SCHEMA_VERSION, type Loop } from "@smith/core";
import type { IOperation } from "etcd3";
import { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { modIs, txn } from "./txn.ts";

/**
 * One thing to tell outside Smith. Today one kind: the source issue of a loop made from a GitHub
 * issue hears that the loop flatlined, with the reason it had then (the loop may have moved on
 * by the time it is told).
 */
export const OutboxRecord = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  loopId: z.string(),
  kind: z.literal("github-flatline"),
  attempt: z.number().int().min(0),
  reason: z.string().max(128),
  message: z.string().max(4000).optional(),
  createdAt: z.string().datetime(),
  /** Tries that failed so far. */
  tries: z.number().int().min(0).default(0),
  /** Not before this time (a failed try backs off). */
  notBefore: z.string().datetime().optional(),
  /** The process telling it now, and since when: another may take it over when that is old. */
  takenBy: z.string().max(128).optional(),
  takenAt: z.string().datetime().optional(),
  lastError: z.string().max(512).optional(),
});
export type OutboxRecord = z.infer<typeof OutboxRecord>;

export interface OutboxItem {
  key: string;
  revision: string;
  record: OutboxRecord;
}

/** The item name of a loop's flatline at one attempt: one comment per flatline. */
export function flatlineItem(attempt: number): string {
  return `github-flatline-${attempt}`;
}

/**
 * `outbox/<loop>/<item>`: an outbox in etcd. Whoever ends a loop writes the item in the same txn
 * as the transition (`LoopRepository.plan`), so a flatline is never decided without it, whatever
 * process decided it and whenever that process dies. Senders take an item with a txn on its
 * revision (so one of many processes tells it), and delete it, again on its revision, once told.
 */
export class OutboxRepository {
  private readonly ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /** The write that queues the flatline of `loop` for its source issue (for the transition's txn). */
  flatlineOp(loop: Loop): IOperation {
    const record: OutboxRecord = {
      schemaVersion: SCHEMA_VERSION,
      loopId: loop.id,
      kind: "github-flatline",
      attempt: loop.status.attempt,
      reason: (loop.status.reason ?? "flatline").slice(0, 128),
      ...(loop.status.message ? { message: loop.status.message.slice(0, 4000) } : {}),
      createdAt: this.ctx.now().toISOString(),
      tries: 0,
    };
    return this.ctx.client.put(this.ctx.keys.outbox(loop.id, flatlineItem(loop.status.attempt))).value(encode(record));
  }

  /** Pending items, of one loop or of all (at most `limit`). */
  async list(loopId?: string, limit = 100): Promise<OutboxItem[]> {
    const res = await etcdCall(() =>
      this.ctx.client.getAll().prefix(this.ctx.keys.outboxPrefix(loopId)).limit(limit).exec(),
    );
    return res.kvs.map((kv) => ({
      key: kv.key.toString(),
      revision: kv.mod_revision,
      record: decode(OutboxRecord, kv.value, kv.key.toString()),
    }));
  }

  /** Replaces an item still at its revision (take, back off); the new item, or undefined when it moved on. */
  async update(item: OutboxItem, record: OutboxRecord): Promise<OutboxItem | undefined> {
    const res = await txn(
      this.ctx.client,
      [modIs(item.key, item.revision)],
      [this.ctx.client.put(item.key).value(encode(record))],
    );
    return res.succeeded ? { key: item.key, revision: res.header.revision, record } : undefined;
  }

  /** Deletes an item still at its revision (told, or given up). */
  async remove(item: OutboxItem): Promise<boolean> {
    const res = await txn(this.ctx.client, [modIs(item.key, item.revision)], [this.ctx.client.delete().key(item.key)]);
    return res.succeeded;
  }
}
