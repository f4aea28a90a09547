import { mintReplicaToken } from "@smith/auth";
import { createSmithClient, type SmithClient } from "@smith/client";
import type { JournalEntry } from "@smith/core";
import type { SmithStore } from "@smith/store";
import { LocalProcessExecutor, replicaEnv } from "@smith/executor";
import { silentLogger } from "@smith/logger";
import { Scheduler } from "@smith/scheduler";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { ADMIN_TOKEN, SIGNING_KEY, loopInput } from "@smith/api/testSupport";
import { BENCH } from "./config.ts";
import { procCpuMs } from "./cpu.ts";
import { LatencyProbe } from "./latency.ts";
import { paced } from "./load.ts";
import { percentile } from "./stats.ts";
import { BenchCheckError, type BenchContext, type Measurement, type Suite, type Workload } from "./suite.ts";

/**
 * The API end to end, as deployed: a separate API process (apps/api) on the same etcd, reached
 * over HTTP with superjson and bearer auth. `loops.create` through a real client; and
 * `replica.appendJournal` → `journal.tail` subscribers over SSE, at a steady 1,000 entries/s with
 * 10 subscribers, checking that every subscriber gets every entry exactly once.
 */
interface RunningApi {
  url: string;
  prefix: string;
  store: SmithStore;
  client(token: string, options?: { batch?: boolean }): SmithClient;
  operator: string;
  viewer: string;
  /** The API process's pid (for its CPU time). */
  pid: number | undefined;
  /** Ends the API process (also done at the end of the run). */
  stop(): void;
}

const apis = new Map<string, Promise<RunningApi>>();

/** The API process of `name` (each with a key prefix of its own), started once. */
function start(ctx: BenchContext, name = "api"): Promise<RunningApi> {
  let api = apis.get(name);
  api ??= (async () => {
    const prefix = ctx.prefix(name);
    const child = spawn(process.execPath, ["apps/api/src/main.ts"], {
      env: {
        PATH: process.env.PATH ?? "",
        SMITH_ETCD_ENDPOINTS: ctx.endpoint,
        SMITH_ETCD_PREFIX: prefix.replace(/\/$/, ""),
        SMITH_API_PORT: "0",
        SMITH_SIGNING_KEY: SIGNING_KEY,
        SMITH_ADMIN_TOKEN: ADMIN_TOKEN,
        SMITH_ALLOW_LOCAL_REPOS: "true",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    ctx.defer(() => child.kill("SIGTERM"));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BenchCheckError("the API process did not start within 20 s")), 20_000);
      createInterface({ input: child.stderr }).on("line", (line) => {
        const m = /"url":"([^"]+)"/.exec(line);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once("exit", (code) => reject(new BenchCheckError(`the API process exited (${code})`)));
    });
    const client = (token: string, options: { batch?: boolean } = {}) => createSmithClient({ url, token, ...options });
    const admin = client(ADMIN_TOKEN);
    const operator = (await admin.tokens.create.mutate({ name: "bench-operator", role: "operator" })).token;
    const viewer = (await admin.tokens.create.mutate({ name: "bench-viewer", role: "viewer" })).token;
    return {
      url,
      prefix,
      store: ctx.store(prefix),
      client,
      operator,
      viewer,
      pid: child.pid,
      stop: () => child.kill("SIGTERM"),
    };
  })();
  apis.set(name, api);
  return api;
}

export const apiSuite: Suite = {
  name: "api",

  async workloads(ctx: BenchContext): Promise<Workload[]> {
    const a = await start(ctx);
    const client = a.client(a.operator);
    return [
      {
        id: "api.loops.create",
        name: "loops.create via API",
        unit: "ops/s",
        vs: ["raw.put", "loops.create"],
        concurrency: BENCH.concurrency,
        describe: "API in its own process: HTTP batch link + superjson + bearer auth + audit event + journal entry",
        op: async () => {
          await client.loops.create.mutate(loopInput());
        },
      },
    ];
  },

  async run(ctx: BenchContext): Promise<Measurement[]> {
    const a = await start(ctx);
    const out = [...(await fanOut(ctx, a, "entries")), ...(await fanOut(ctx, a, "batched"))];
    for (const n of BENCH.scheduler.schedulers) {
      ctx.log(`enqueue → lock with real replicas, ${n} scheduler(s)`);
      const locking = await start(ctx, `api-lock-${n}`);
      out.push(...(await lockLatency(ctx, locking, n)));
      locking.stop();
    }
    // Their etcd traffic (the outbox pass every 15 s) would count in the idle scheduler's figure.
    a.stop();
    return out;
  },
};

/**
 * One replica appending at a steady rate to one loop, `subscribers` SSE subscribers following
 * it through `journal.tail` (one event per entry) or `journal.tailBatched` (the entries ready at
 * once in one event). Latency counts from the start of the append call that carried the entry.
 */
async function fanOut(ctx: BenchContext, a: RunningApi, mode: "entries" | "batched"): Promise<Measurement[]> {
  const { subscribers, ratePerSec, batch, durationMs, rounds } = BENCH.api;
  // Top priority and a key of its own: claimed first, ahead of the loops the throughput phase queued.
  const { loop } = await a
    .client(a.operator)
    .loops.create.mutate(loopInput({ priority: 999, concurrencyKey: `bench-tail-${mode}` }));
  const session = await a.store.openSession({ ttlSeconds: 60 });
  ctx.defer(() => session.close());
  const claimed = await a.store.claims.claimNext(session, { perKeyLimit: 1 });
  if (claimed?.loop.id !== loop.id) throw new BenchCheckError("the latency loop was not claimed first");
  // As apps/replica creates its client: one call at a time, sent at once (no batching tick).
  const replica = a.client(
    mintReplicaToken(SIGNING_KEY, { loopId: loop.id, attempt: claimed.loop.status.attempt, ttlSeconds: 600 }),
    { batch: false },
  );
  await replica.replica.acquireLock.mutate({ loopId: loop.id });
  const head = (await a.store.journal.head(loop.id)).seq;

  const sentAt = new Map<number, number>();
  const samples: number[] = [];
  const received = Array.from({ length: subscribers }, () => [] as number[]);
  let events = 0;
  let expected = 0;
  let onAll: (() => void) | undefined;
  const got = (s: number, entries: readonly JournalEntry[]) => {
    const t = performance.now();
    events++;
    for (const e of entries) {
      received[s]?.push(e.seq);
      const at = sentAt.get(e.seq);
      if (at !== undefined) samples.push(t - at);
    }
    if (expected > 0 && received.every((r) => r.length >= expected)) onAll?.();
  };
  const subs = Array.from({ length: subscribers }, (_, s) => {
    const viewer = a.client(a.viewer);
    const onError = (err: unknown) => ctx.log(`subscriber ${s}: ${String(err)}`);
    return mode === "entries"
      ? viewer.journal.tail.subscribe(
          { loopId: loop.id, afterSeq: head },
          { onData: ({ data }) => got(s, [data as JournalEntry]), onError },
        )
      : viewer.journal.tailBatched.subscribe(
          { loopId: loop.id, afterSeq: head },
          { onData: ({ data }) => got(s, data.entries as JournalEntry[]), onError },
        );
  });
  ctx.defer(() => subs.forEach((s) => s.unsubscribe()));
  await new Promise((r) => setTimeout(r, 500));

  // The raw baseline in the same seconds: a put→watch probe on this etcd, from this process, in
  // rounds that alternate with the writer's (the raw suite's figure is minutes away, when the
  // machine may have been quieter or busier).
  const rawPrefix = ctx.prefix(`raw-watch-beside-${mode}`);
  const rawWriter = ctx.store(rawPrefix).client;
  const rawReader = ctx.store(rawPrefix).client;
  const rawProbe = new LatencyProbe();
  for (let s = 0; s < BENCH.latency.streams; s++) {
    const watcher = await rawReader.watch().prefix(`${rawPrefix}${s}/`).create();
    ctx.defer(() => watcher.cancel().catch(() => undefined));
    watcher.on("put", (kv) => rawProbe.received(kv.key.toString()));
  }
  const rawValue = "x".repeat(BENCH.rawValueBytes);
  let rawSent = 0;
  const rawRound = async (durationMs: number) => {
    const offset = rawSent;
    const run = await paced(
      { streams: BENCH.latency.streams, ratePerSec: BENCH.latency.ratePerSec, durationMs, signal: ctx.signal },
      async (s, i) => {
        const key = `${rawPrefix}${s}/${offset + i}`;
        const done = rawProbe.sent(key);
        await rawWriter.put(key).value(rawValue).exec();
        done();
      },
    );
    rawSent += run.sent;
    await rawProbe.drained(BENCH.latency.drainTimeoutMs);
  };
  await rawRound(BENCH.latency.warmupMs);
  rawProbe.startMeasuring();

  const allReceived = (timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new BenchCheckError(
              `subscribers got ${received.map((r) => r.length).join("/")} of ${expected} entries within ${timeoutMs / 1000} s`,
            ),
          ),
        timeoutMs,
      );
      onAll = () => {
        clearTimeout(timer);
        resolve();
      };
      if (received.every((r) => r.length >= expected)) onAll();
    });

  // One replica writing steadily: calls of `batch` entries, ratePerSec entries a second, in
  // `rounds` rounds; after each, once every subscriber has every entry, a raw round as long.
  const calls: number[] = [];
  // CPU per entry of the API process and of this one (the writer and the subscribers), over the
  // writer's rounds only: unlike the latency, it hardly changes with what else runs on the machine.
  let apiCpuMs = 0;
  let ownCpuMs = 0;
  let writerMs = 0;
  // How late this process's event loop ran during the writer's rounds (the subscribers' events
  // wait for it): on a busy machine, mostly the time it waited for a core.
  const lag = monitorEventLoopDelay({ resolution: 5 });
  let calls0 = 0;
  const roundMs = durationMs / rounds;
  for (let round = 0; round < rounds; round++) {
    const apiCpuBefore = a.pid === undefined ? undefined : procCpuMs(a.pid);
    const usage0 = process.cpuUsage();
    const t0 = performance.now();
    lag.enable();
    const result = await paced(
      { streams: 1, ratePerSec: ratePerSec / batch, durationMs: roundMs, signal: ctx.signal },
      async () => {
        const i = calls0++;
        const entries = Array.from({ length: batch }, (_, k) => ({
          id: `b${i}-${k}`,
          phase: "agent" as const,
          actor: { type: "agent" as const, id: "bench" },
          message: `step ${i * batch + k}`,
        }));
        const sent = performance.now();
        const { seqs } = await replica.replica.appendJournal.mutate({ loopId: loop.id, entries });
        calls.push(performance.now() - sent);
        for (const seq of seqs) if (!sentAt.has(seq)) sentAt.set(seq, sent);
      },
    );
    expected += result.sent * batch;
    await allReceived(60_000);
    lag.disable();
    writerMs += performance.now() - t0;
    const usage = process.cpuUsage(usage0);
    ownCpuMs += (usage.user + usage.system) / 1000;
    const apiCpuAfter = a.pid === undefined ? undefined : procCpuMs(a.pid);
    apiCpuMs += apiCpuBefore === undefined || apiCpuAfter === undefined ? Number.NaN : apiCpuAfter - apiCpuBefore;
    await rawRound(roundMs);
  }
  subs.forEach((s) => s.unsubscribe());

  let duplicatesOrGaps = 0;
  for (const r of received) for (let i = 0; i < r.length; i++) if (r[i] !== head + i + 1) duplicatesOrGaps++;
  if (duplicatesOrGaps > 0)
    throw new BenchCheckError(`${duplicatesOrGaps} entries arrived out of order, twice or not at all`);
  const delivered = received.reduce((n, r) => n + r.length, 0) / (expected * subscribers);
  const label = mode === "entries" ? "journal.tail" : "journal.tailBatched";
  const apiCpu = Number.isNaN(apiCpuMs) ? "?" : ((apiCpuMs / expected) * 1000).toFixed(0);
  const note = `${expected} entries at ${Math.round((expected * 1000) / writerMs)}/s in ${batch}-entry appendJournal calls (${rounds} rounds of ${roundMs / 1000} s), ${subscribers} SSE subscribers, ${Math.round(events / subscribers)} events each (API in its own process); call p50 ${percentile(calls, 50).toFixed(2)} ms; cpu ms per 1,000 entries: API ${apiCpu}, writer + subscribers ${((ownCpuMs / expected) * 1000).toFixed(0)}; this process's event-loop delay p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms`;
  const rawId = `api.${mode}.raw`;
  const rawNote = `${rawProbe.count} samples at ${BENCH.latency.ratePerSec}/s, ${BENCH.latency.streams} single-writer streams, in ${rounds} rounds of ${roundMs / 1000} s alternating with the writer's rounds above (subscribers connected, idle)`;
  return [
    {
      id: `api.${mode}.p50`,
      name: `appendJournal→${label} p50`,
      value: percentile(samples, 50),
      unit: "ms",
      vs: ["raw.watch.p50", `${rawId}.p50`],
      note,
    },
    {
      id: `api.${mode}.p99`,
      name: `appendJournal→${label} p99`,
      value: percentile(samples, 99),
      unit: "ms",
      vs: ["raw.watch.p99", `${rawId}.p99`],
      note: "same samples",
    },
    {
      id: `api.${mode}.delivered`,
      name: "  delivered/appended",
      value: delivered,
      unit: "ratio",
      note: "per subscriber, each seq exactly once, in order",
    },
    {
      id: `${rawId}.p50`,
      name: `  raw put→watch p50, beside ${label}`,
      value: rawProbe.percentile(50),
      unit: "ms",
      note: rawNote,
    },
    {
      id: `${rawId}.p99`,
      name: `  raw put→watch p99, beside ${label}`,
      value: rawProbe.percentile(99),
      unit: "ms",
      note: "same samples",
    },
  ];
}

/**
 * From `loops.create` through the API to the replica holding its lock: schedulers in this process
 * with the local executor start the real replica (apps/replica), which takes the lock through
 * the API with its token, as deployed on one machine. The loops' repository does not exist, so
 * each replica ends its loop right after the lock (cannot clone); only the time to the lock counts.
 */
async function lockLatency(ctx: BenchContext, a: RunningApi, n: number): Promise<Measurement[]> {
  const { lockLoops, lockPerSecond } = BENCH.api;
  const replicaMain = fileURLToPath(new URL("../../apps/replica/src/main.ts", import.meta.url));
  const schedulers: Scheduler[] = [];
  for (let i = 0; i < n; i++) {
    const dir = mkdtempSync(join(tmpdir(), "smith-bench-lock-"));
    ctx.defer(() => rmSync(dir, { recursive: true, force: true }));
    const executor = new LocalProcessExecutor({
      stateDir: dir,
      command: [process.execPath, replicaMain],
      env: replicaEnv(process.env, a.url),
      stopGraceMs: 500,
    });
    ctx.defer(async () => {
      for (const r of await executor.list()) await executor.stop(r.handle);
    });
    const scheduler = new Scheduler({
      store: ctx.store(a.prefix),
      executor,
      signingKey: SIGNING_KEY,
      claim: { perKeyLimit: 100_000 },
      log: silentLogger,
    });
    ctx.defer(() => scheduler.stop());
    await scheduler.start();
    schedulers.push(scheduler);
  }
  // A watch on the lock keys: the put that a replica's acquireLock makes.
  const lockedAt = new Map<string, number>();
  const lockPrefix = a.store.keys.lock("");
  const watcher = await a.store.client.watch().prefix(lockPrefix).create();
  watcher.on("put", (kv) => {
    const id = kv.key.toString().slice(lockPrefix.length);
    if (!lockedAt.has(id)) lockedAt.set(id, performance.now());
  });
  const enqueuedAt = new Map<string, number>();
  const client = a.client(a.operator);
  const repo = `file://${join(tmpdir(), "smith-bench-no-such-repo.git")}`;
  const t0 = performance.now();
  try {
    for (let i = 0; i < lockLoops; i++) {
      ctx.signal.throwIfAborted();
      const wait = t0 + (i * 1000) / lockPerSecond - performance.now();
      if (wait > 0) await delay(wait);
      const t = performance.now();
      const { loop } = await client.loops.create.mutate(
        loopInput({
          concurrencyKey: `lock-${i}`,
          spec: { ...loopInput().spec, repo: { url: repo } },
        }),
      );
      enqueuedAt.set(loop.id, t);
    }
    const deadline = performance.now() + 120_000;
    while ([...enqueuedAt.keys()].some((id) => !lockedAt.has(id))) {
      ctx.signal.throwIfAborted();
      if (performance.now() > deadline)
        throw new BenchCheckError(
          `${n} scheduler(s): ${[...enqueuedAt.keys()].filter((id) => lockedAt.has(id)).length} of ${lockLoops} replicas took their lock within 120 s`,
        );
      await delay(50);
    }
  } finally {
    await watcher.cancel();
    await Promise.all(schedulers.map((s) => s.stop()));
  }
  const samples = [...enqueuedAt].map(([id, t]) => (lockedAt.get(id) ?? NaN) - t);
  const label = n === 1 ? "1 scheduler" : `${n} schedulers`;
  return [
    {
      id: `scheduler.${n}.locked.p50`,
      name: `enqueue→replica took the lock p50, ${label}`,
      value: percentile(samples, 50),
      unit: "ms",
      note: `${lockLoops} loops created through the API at ${lockPerSecond}/s; the real replica (a Node process) started by the local executor takes the lock through the API`,
    },
    {
      id: `scheduler.${n}.locked.p99`,
      name: `enqueue→replica took the lock p99, ${label}`,
      value: percentile(samples, 99),
      unit: "ms",
      note: "same samples",
    },
  ];
}
