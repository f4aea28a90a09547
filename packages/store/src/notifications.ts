import { NOTIFY_STATES, SCHEMA_VERSION } from "@smith/core";
import { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { absent, exists, modIs, txn } from "./txn.ts";

/** One webhook's fate for a notification. The URL itself is not kept: its path may be a secret (Slack's are). */
export const NotificationTarget = z.object({
  /** Position in the notifier's list (SMITH_NOTIFY_URLS first, then the loop's spec.notify.urls). */
  index: z.number().int().min(0),
  /** scheme://host[:port] of the URL. */
  origin: z.string().max(512),
  outcome: z.enum(["delivered", "failed"]),
  /** The last HTTP status, when there was a response. */
  status: z.number().int().optional(),
  attempts: z.number().int().min(0),
  error: z.string().max(512).optional(),
});
export type NotificationTarget = z.infer<typeof NotificationTarget>;

export const NotificationRecord = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  loopId: z.string(),
  transition: z.string().max(128),
  state: z.enum(NOTIFY_STATES),
  /** The notifier (scheduler id) that took the notification. */
  notifier: z.string().max(128),
  takenAt: z.string().datetime(),
  /** `sending` until every target is delivered or has failed. */
  phase: z.enum(["sending", "done"]),
  targets: z.array(NotificationTarget).max(32).default([]),
});
export type NotificationRecord = z.infer<typeof NotificationRecord>;

/**
 * `notifications/<loop>/<transition>`: which notifier announces a transition. Every scheduler's
 * notifier sees every loop change; the one whose create-if-absent txn wins sends, the others do
 * nothing, so a receiver gets one message per transition however many schedulers run.
 */
export class NotificationRepository {
  private readonly ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /** Takes a transition for `notifier`: true when it is new, false when some notifier took it before. */
  async take(
    loopId: string,
    transition: string,
    state: NotificationRecord["state"],
    notifier: string,
  ): Promise<boolean> {
    const key = this.ctx.keys.notification(loopId, transition);
    const record: NotificationRecord = {
      schemaVersion: SCHEMA_VERSION,
      loopId,
      transition,
      state,
      notifier,
      takenAt: this.ctx.now().toISOString(),
      phase: "sending",
      targets: [],
    };
    // The loop must still exist: a purged loop's transition is not announced (and leaves no key behind).
    const res = await txn(
      this.ctx.client,
      [absent(key), exists(this.ctx.keys.loop(loopId))],
      [this.ctx.client.put(key).value(encode(record))],
    );
    return res.succeeded;
  }

  /** Records what became of every target. */
  async complete(loopId: string, transition: string, targets: NotificationTarget[]): Promise<void> {
    const key = this.ctx.keys.notification(loopId, transition);
    for (let i = 0; i < 3; i++) {
      const res = await etcdCall(() => this.ctx.client.get(key).exec());
      const kv = res.kvs[0];
      // Purged with its loop meanwhile: nothing to record.
      if (!kv) return;
      const current = decode(NotificationRecord, kv.value, key);
      const done: NotificationRecord = { ...current, phase: "done", targets: targets.slice(0, 32) };
      const w = await txn(
        this.ctx.client,
        [modIs(key, kv.mod_revision)],
        [this.ctx.client.put(key).value(encode(done))],
      );
      if (w.succeeded) return;
    }
  }

  async get(loopId: string, transition: string): Promise<NotificationRecord | undefined> {
    const key = this.ctx.keys.notification(loopId, transition);
    const raw = await etcdCall(() => this.ctx.client.get(key).buffer());
    return raw ? decode(NotificationRecord, raw, key) : undefined;
  }

  async list(loopId: string): Promise<NotificationRecord[]> {
    const res = await etcdCall(() => this.ctx.client.getAll().prefix(this.ctx.keys.notificationsPrefix(loopId)).exec());
    return res.kvs.map((kv) => decode(NotificationRecord, kv.value, kv.key.toString()));
  }
}
