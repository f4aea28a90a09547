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

/**
 * `webhooks/deliveries/<id>`: the deliveries an API has taken, so that a delivery GitHub sends
 * again (a redelivery, or a replay by someone who captured it) does nothing twice.
 */
export class WebhookDeliveryRepository {
  private readonly ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
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
    const res = await txn(this.ctx.client, [absent(key)], [this.ctx.client.put(key).value(encode(record))]);
    return res.succeeded;
  }

  async complete(id: string, outcome: string): Promise<void> {
    const key = this.ctx.keys.webhookDelivery(id);
    const res = await etcdCall(() => this.ctx.client.get(key).exec());
    const kv = res.kvs[0];
    if (!kv) return;
    const current = decode(WebhookDelivery, kv.value, key);
    const done: WebhookDelivery = { ...current, state: "done", outcome: outcome.slice(0, 512) };
    await txn(this.ctx.client, [modIs(key, kv.mod_revision)], [this.ctx.client.put(key).value(encode(done))]);
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
