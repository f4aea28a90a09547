import type { Etcd3, Watcher } from "etcd3";
import { BENCH } from "./config.ts";
import { LatencyProbe, describeLatency, measureLatency } from "./latency.ts";
import { BenchCheckError, type BenchContext, type Measurement, type Suite, type Workload } from "./suite.ts";

/**
 * The baselines: what etcd itself does through the same client library (and the same fault
 * handling wrappers) the store uses, with no Smith logic on top.
 */
export const rawSuite: Suite = {
  name: "raw etcd",

  async workloads(ctx: BenchContext): Promise<Workload[]> {
    const prefix = ctx.prefix("raw");
    const { client } = ctx.store(prefix);
    const value = "x".repeat(BENCH.rawValueBytes);
    const describe = `${BENCH.rawValueBytes} B values`;
    return [
      {
        id: "raw.put",
        name: "raw put",
        unit: "ops/s",
        concurrency: BENCH.concurrency,
        describe,
        op: async (_w, i) => {
          await client.put(`${prefix}put/${i}`).value(value).exec();
        },
      },
      {
        // The smallest txn the store writes: one compare (key absent), one put.
        id: "raw.txn",
        name: "raw txn",
        unit: "ops/s",
        concurrency: BENCH.concurrency,
        describe: `${describe}, 1 compare + 1 put`,
        op: (_w, i) => freshKeyTxn(client, `${prefix}txn/${i}`, value),
      },
      {
        // One claimer or one journal writer is a chain of calls with one in flight.
        id: "raw.txn.serial",
        name: "raw txn, 1 in flight",
        unit: "ops/s",
        concurrency: 1,
        describe: `${describe}, 1 compare + 1 put`,
        op: (_w, i) => freshKeyTxn(client, `${prefix}txn/${i}`, value),
      },
    ];
  },

  async run(ctx: BenchContext): Promise<Measurement[]> {
    ctx.log("raw put → watch latency");
    const latency = await watchLatency(ctx, ctx.prefix("raw-watch"), "x".repeat(BENCH.rawValueBytes));
    return [
      {
        id: "raw.watch.p50",
        name: "raw put→watch p50",
        value: latency.p50,
        unit: "ms",
        note: `${describeLatency(latency)}; the put call itself p50 ${latency.callP50.toFixed(2)} ms`,
      },
      { id: "raw.watch.p99", name: "raw put→watch p99", value: latency.p99, unit: "ms", note: "same samples" },
    ];
  },
};

async function freshKeyTxn(client: Etcd3, key: string, value: string): Promise<void> {
  const res = await client.if(key, "Create", "==", 0).then(client.put(key).value(value)).commit();
  if (!res.succeeded) throw new BenchCheckError(`raw txn on fresh key ${key} failed its compare`);
}

/** Plain puts under one prefix per stream, each followed by a raw watcher on a second client. */
async function watchLatency(ctx: BenchContext, prefix: string, value: string) {
  const writer = ctx.store(prefix).client;
  const reader = ctx.store(prefix).client;
  const probe = new LatencyProbe();
  const watchers: Watcher[] = [];
  ctx.defer(() => Promise.all(watchers.map((w) => w.cancel().catch(() => undefined))));
  for (let s = 0; s < BENCH.latency.streams; s++) {
    const watcher = await reader.watch().prefix(`${prefix}${s}/`).create();
    watcher.on("put", (kv) => probe.received(kv.key.toString()));
    watchers.push(watcher);
  }
  return measureLatency(ctx.signal, probe, async (s, i) => {
    const key = `${prefix}${s}/${i}`;
    const done = probe.sent(key);
    await writer.put(key).value(value).exec();
    done();
  });
}
