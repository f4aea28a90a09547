import { SCHEMA_VERSION } from "@smith/core";
import { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { absent, modIs, txn } from "./txn.ts";

export const PollSlot = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  /** When the job is next due (ISO). */
  nextAt: z.string().datetime(),
  /** Who ran it last. */
  by: z.string().max(128),
});
export type PollSlot = z.infer<typeof PollSlot>;

/**
 * `polls/<name>`: periodic jobs that any API (or scheduler) process may run but that should run
 * once per period across all of them, such as polling a GitHub repository. A process takes the
 * slot with a txn on the key's revision, so of several processes due at once exactly one wins;
 * a process that cannot run the job (GitHub's rate limit) moves the slot to when it can.
 */
export class PollSlotRepository {
  private readonly ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /** True when `name` was due and is now taken by `by` until `everyMs` from now. */
  async take(name: string, everyMs: number, by: string): Promise<boolean> {
    const key = this.ctx.keys.pollSlot(name);
    const now = this.ctx.now().getTime();
    const res = await etcdCall(() => this.ctx.client.get(key).exec());
    const kv = res.kvs[0];
    if (kv && Date.parse(decode(PollSlot, kv.value, key).nextAt) > now) return false;
    const next: PollSlot = { schemaVersion: SCHEMA_VERSION, nextAt: new Date(now + everyMs).toISOString(), by };
    const won = await txn(
      this.ctx.client,
      [kv ? modIs(key, kv.mod_revision) : absent(key)],
      [this.ctx.client.put(key).value(encode(next))],
    );
    return won.succeeded;
  }

  /** Moves the slot's next run to `until` (not earlier than it already is). */
  async defer(name: string, until: Date, by: string): Promise<void> {
    const key = this.ctx.keys.pollSlot(name);
    const slot: PollSlot = { schemaVersion: SCHEMA_VERSION, nextAt: until.toISOString(), by };
    await etcdCall(() => this.ctx.client.put(key).value(encode(slot)).exec());
  }

  async get(name: string): Promise<PollSlot | undefined> {
    const key = this.ctx.keys.pollSlot(name);
    const raw = await etcdCall(() => this.ctx.client.get(key).buffer());
    return raw ? decode(PollSlot, raw, key) : undefined;
  }
}
