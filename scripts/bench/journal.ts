import type { JournalEntryRequest } from "@smith/core";
import type { SmithStore } from "@smith/store";
import { loopRequest } from "@smith/store/testSupport";
import { BENCH } from "./config.ts";
import { LatencyProbe, describeLatency, measureLatency } from "./latency.ts";
import { forEachConcurrently } from "./load.ts";
import { BenchCheckError, type BenchContext, type Measurement, type Suite, type Workload } from "./suite.ts";

// About what an agent step logs: a line of text and a little metadata.
const MESSAGE = "ran `npm test`: 214 passed, 0 failed; moving on to the next acceptance criterion of US-002";

function entry(n: number, id?: string): JournalEntryRequest {
  return {
    ...(id ? { id } : {}),
    phase: "agent",
    actor: { type: "replica", id: "bench" },
    message: `${MESSAGE} (${n})`,
    metadata: { step: n },
  };
}

/**
 * `journal.append` (a head read, then one txn writing entries, their id index and the head) and
 * `journal.tail` (a watch on the loop's journal, with backfill and de-duplication).
 */
export const journalSuite: Suite = {
  name: "journal",

  async workloads(ctx: BenchContext): Promise<Workload[]> {
    const { loops: loopCount, batchEntries } = BENCH.journal;
    if (BENCH.concurrency > loopCount) throw new BenchCheckError("the journal benchmark needs a loop per writer");
    const store = ctx.store(ctx.prefix("journal"));
    const loopIds = await createLoops(store, loopCount);
    const loopOf = (worker: number) => loopIds[worker] ?? "";
    const sample = store.journal.prepare(loopOf(0), [entry(0)])[0];
    // One writer per loop, as with replicas: no two appends race for the same head.
    const layout = `${loopCount} loops, one writer each, ${Buffer.byteLength(JSON.stringify(sample))} B entries`;
    return [
      {
        id: "journal.append",
        name: "journal append, 1 entry",
        unit: "ops/s",
        vs: ["raw.put"],
        concurrency: BENCH.concurrency,
        unitName: "append",
        describe: layout,
        op: async (w, i) => {
          await store.journal.append(loopOf(w), [entry(i)]);
        },
      },
      {
        id: "journal.append.batch",
        name: `journal append, ${batchEntries}-entry batches`,
        unit: "entries/s",
        vs: ["raw.put"],
        concurrency: BENCH.concurrency,
        unitsPerOp: batchEntries,
        unitName: "entry",
        describe: layout,
        op: async (w, i) => {
          await store.journal.append(
            loopOf(w),
            Array.from({ length: batchEntries }, (_, k) => entry(i * batchEntries + k)),
          );
        },
      },
    ];
  },

  async run(ctx: BenchContext): Promise<Measurement[]> {
    ctx.log("journal append → tail latency");
    const latency = await tailLatency(ctx);
    return [
      {
        id: "journal.tail.p50",
        name: "journal append→tail p50",
        value: latency.p50,
        unit: "ms",
        vs: ["raw.watch.p50"],
        note: `${describeLatency(latency)}; the append call itself p50 ${latency.callP50.toFixed(2)} ms`,
      },
      {
        id: "journal.tail.p99",
        name: "journal append→tail p99",
        value: latency.p99,
        unit: "ms",
        vs: ["raw.watch.p99"],
        note: "same samples",
      },
    ];
  },
};

async function createLoops(store: SmithStore, count: number): Promise<string[]> {
  const ids: string[] = [];
  await forEachConcurrently(count, BENCH.concurrency, async () => {
    ids.push((await store.loops.create(loopRequest())).loop.id);
  });
  return ids;
}

/** One loop per stream, appended to by one writer and followed by `journal.tail` on a second client. */
async function tailLatency(ctx: BenchContext) {
  const prefix = ctx.prefix("journal-tail");
  const writer = ctx.store(prefix);
  const reader = ctx.store(prefix);
  const loopIds = await createLoops(writer, BENCH.latency.streams);
  const probe = new LatencyProbe();
  const stop = new AbortController();
  ctx.defer(() => stop.abort());
  const tails = loopIds.map(async (loopId) => {
    for await (const e of reader.journal.tail(loopId, { signal: stop.signal })) probe.received(e.id);
  });
  // A tail that fails would otherwise surface only as "events never arrived".
  const failed = Promise.race(tails.map((t) => t.then(() => new Promise<never>(() => undefined))));
  try {
    return await Promise.race([
      failed,
      measureLatency(ctx.signal, probe, async (s, i) => {
        const id = `bench-${s}-${i}`;
        const done = probe.sent(id);
        await writer.journal.append(loopIds[s] ?? "", [entry(i, id)]);
        done();
      }),
    ]);
  } finally {
    stop.abort();
    await Promise.allSettled(tails);
  }
}
