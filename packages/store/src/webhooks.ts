import { SCHEMA_VERSION } from "@smith/core";
import { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { absent, modIs, txn } from "./txn.ts";

export const WebhookDelivery = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  id: z.string().min(1).max(256),
  /** `github`. */
  source: z.string().max(32),
  event: z.string().max(64),
  receivedAt: z.string().datetime(),
  /** `processing` until handled; a delivery whose handling failed is released for a redelivery. */
  state: z.enum(["processing", "done"]),
  /** What the delivery did (`loop-created 01j...`, `ignored: no label`, ...). */
  outcome: z.string().max(512).optional(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/** How long a delivery is remembered by default: GitHub redelivers for 3 days; a replay later than this is refused by its age. */
const DELIVERY_RETENTION_MS = 7 * 24 * 3600_000;

/**
 * `webhooks/deliveries/<id>`: the deliveries an API has taken, so that a delivery GitHub sends
 * again (a redelivery, or a replay by someone who captured it) does nothing twice.
 *
 * The records expire by themselves: each is bound to an etcd lease of `retentionMs` plus a day,
 * and the deliveries of one day share one lease (a lease per delivery would cost etcd a lease
 * each). So a record lives between `retentionMs` and `retentionMs` + 1 day (a retention shorter
 * than a day buckets by the retention itself); the webhook refuses a
 * delivery whose event is older than `retentionMs`, so a replay outliving its record does nothing.
 */
export class WebhookDeliveryRepository {
  private readonly ctx: StoreContext;
  readonly retentionMs: number;
  private lease: { id: string; renewAt: number } | undefined;

  constructor(ctx: StoreContext, options: { retentionMs?: number } = {}) {
    this.ctx = ctx;
    this.retentionMs = options.retentionMs ?? DELIVERY_RETENTION_MS;
  }

  /** The lease of this day's deliveries (granted once a day per process; never kept alive). */
  private async dayLease(): Promise<string> {
    const now = this.ctx.now().getTime();
    if (this.lease && now < this.lease.renewAt) return this.lease.id;
    // A day's bucket (shorter only when the retention itself is shorter than a day).
    const bucket = Math.min(24 * 3600_000, this.retentionMs);
    const ttlSeconds = Math.ceil((this.retentionMs + bucket) / 1000);
    const lease = this.ctx.client.lease(ttlSeconds, { autoKeepAlive: false });
    const id = await etcdCall(() => lease.grant());
    // Detach the local handle: the lease lives on in etcd until its TTL.
    lease.release();
    this.lease = { id, renewAt: now + bucket };
    return id;
  }

  /** Takes a delivery: true when it is new, false when it was taken before (by any API process). */
  async claim(id: string, source: string, event: string): Promise<boolean> {
    const key = this.ctx.keys.webhookDelivery(id);
    const record: WebhookDelivery = {
      schemaVersion: SCHEMA_VERSION,
      id,
      source,
      event,
      receivedAt: this.ctx.now().toISOString(),
      state: "processing",
    };
    const lease = await this.dayLease();
    const res = await txn(
      this.ctx.client,
      [absent(key)],
      [this.ctx.client.put(key).value(encode(record)).lease(lease)],
    );
    return res.succeeded;
  }

  async complete(id: string, outcome: string): Promise<void> {
    const key = this.ctx.keys.webhookDelivery(id);
    const res = await etcdCall(() => this.ctx.client.get(key).exec());
    const kv = res.kvs[0];
    if (!kv) return;
    const current = decode(WebhookDelivery, kv.value, key);
    const done: WebhookDelivery = { ...current, state: "done", outcome: outcome.slice(0, 512) };
    // Same lease: the record keeps its expiry.
    const put = this.ctx.client.put(key).value(encode(done));
    await txn(this.ctx.client, [modIs(key, kv.mod_revision)], [kv.lease !== "0" ? put.lease(kv.lease) : put]);
  }

  /** Forgets a delivery whose handling failed, so that GitHub's redelivery is handled. */
  async release(id: string): Promise<void> {
    await etcdCall(() => this.ctx.client.delete().key(this.ctx.keys.webhookDelivery(id)).exec());
  }

  async get(id: string): Promise<WebhookDelivery | undefined> {
    const key = this.ctx.keys.webhookDelivery(id);
    const raw = await etcdCall(() => this.ctx.client.get(key).buffer());
    return raw ? decode(WebhookDelivery, raw, key) : undefined;
  }
}
