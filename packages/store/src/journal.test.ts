import { LIMITS, isSmithError, type JournalEntry, type JournalEntryRequest } from "@smith/core";
import { etcdMetric, etcdTest as test, startTcpProxy } from "@smith/testing";
import { describe, expect } from "vitest";
import type { SmithStore } from "./store.ts";
import { loopRequest, testStore } from "./testSupport.ts";

const entry = (message: string, extra: Partial<JournalEntryRequest> = {}): JournalEntryRequest => ({
  phase: "agent",
  actor: { type: "replica", id: "r1" },
  message,
  ...extra,
});

/** Appends, retrying while etcd is away (a restart in the middle of the test). */
async function appendRetrying(store: SmithStore, loopId: string, batch: JournalEntryRequest[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await store.journal.append(loopId, batch);
      return;
    } catch (err) {
      if (!isSmithError(err) || !err.recoverable || i > 200) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** 4 writers x 500 entries, each in batches of 10 with stable ids (so a retried batch is idempotent). */
async function writeAll(store: SmithStore, loopId: string, onHalf?: () => Promise<void>): Promise<void> {
  let written = 0;
  let halfDone = false;
  await Promise.all(
    [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; i < 500; i += 10) {
        const batch = Array.from({ length: 10 }, (_, j) => entry(`w${w}-${i + j}`, { id: `w${w}-${i + j}` }));
        await appendRetrying(store, loopId, batch);
        written += 10;
        if (!halfDone && written >= 1000 && onHalf) {
          halfDone = true;
          await onHalf();
        }
      }
    }),
  );
}

function checkComplete(entries: JournalEntry[], fromSeq: number, total: number): void {
  expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: total - fromSeq + 1 }, (_, i) => fromSeq + i));
}

async function take(iter: AsyncIterable<JournalEntry>, count: number): Promise<JournalEntry[]> {
  const out: JournalEntry[] = [];
  for await (const e of iter) {
    out.push(e);
    if (out.length === count) break;
  }
  return out;
}

describe("journal", () => {
  test("append assigns gap-free seqs; list pages; an entry id is stored once", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      const first = await store.journal.append(loop.id, [entry("a", { id: "x1" }), entry("b", { id: "x2" })]);
      expect(first.map((e) => e.seq)).toEqual([1, 2]);
      const again = await store.journal.append(loop.id, [
        entry("a", { id: "x1" }),
        entry("b", { id: "x2" }),
        entry("c", { id: "x3" }),
      ]);
      expect(again.map((e) => [e.seq, e.message])).toEqual([
        [1, "a"],
        [2, "b"],
        [3, "c"],
      ]);
      const big = await store.journal.append(
        loop.id,
        Array.from({ length: 120 }, (_, i) => entry(`m${i}`)),
      );
      expect(big.map((e) => e.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 4));
      const page = await store.journal.list(loop.id, { afterSeq: 100, limit: 10 });
      expect(page.entries.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 101 + i));
      expect(page.more).toBe(true);
      expect((await store.journal.head(loop.id)).seq).toBe(123);
      const newest = await store.journal.list(loop.id, { order: "desc", limit: 3 });
      expect(newest.entries.map((e) => e.seq)).toEqual([123, 122, 121]);
      const before = await store.journal.list(loop.id, { order: "desc", beforeSeq: 3, limit: 10 });
      expect(before.entries.map((e) => e.seq)).toEqual([2, 1]);
    } finally {
      store.close();
    }
  });

  test("bad input: an oversized message, a too-large batch, an unknown loop — typed errors, nothing written", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      const huge = entry("x".repeat(LIMITS.journalMessageBytes + 1));
      await expect(store.journal.append(loop.id, [entry("ok"), huge])).rejects.toMatchObject({
        code: "too_large",
        details: { field: "entries[1].message", limit: LIMITS.journalMessageBytes },
      });
      await expect(
        store.journal.append(
          loop.id,
          Array.from({ length: LIMITS.journalBatchEntries + 1 }, () => entry("x")),
        ),
      ).rejects.toMatchObject({
        code: "too_large",
        details: { field: "entries", limit: LIMITS.journalBatchEntries },
      });
      await expect(store.journal.append(loop.id, [{ ...entry("x"), phase: "nope" as "agent" }])).rejects.toMatchObject({
        code: "invalid_argument",
        details: { field: "entries[0].phase" },
      });
      expect((await store.journal.head(loop.id)).seq).toBe(0);
      await expect(store.journal.append("01jz0000000000000000000000", [entry("x")])).rejects.toMatchObject({
        code: "not_found",
      });
    } finally {
      store.close();
    }
  });

  test("4 writers x 500: a tail from 0 and one from midway see every entry once, in order", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    const reader = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      const fromStart = take(reader.journal.tail(loop.id, { afterSeq: 0 }), 2000);
      let midway: Promise<JournalEntry[]> | undefined;
      await writeAll(store, loop.id, async () => {
        midway = take(reader.journal.tail(loop.id, { afterSeq: 700 }), 1300);
      });
      checkComplete(await fromStart, 1, 2000);
      checkComplete(await (midway ?? Promise.reject(new Error("midway tail never started"))), 701, 2000);
      const messages = (await fromStart).map((e) => e.message);
      expect(new Set(messages).size).toBe(2000);
      for (const w of [0, 1, 2, 3]) {
        const mine = messages.filter((m) => m.startsWith(`w${w}-`)).map((m) => Number(m.split("-")[1]));
        expect(mine).toEqual([...mine].sort((a, b) => a - b));
      }
    } finally {
      store.close();
      reader.close();
    }
  });

  test("a tail survives its connection being cut and restored, with no gap and no duplicate", async ({
    etcd,
    prefix,
  }) => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: etcd.clientPort });
    const writer = testStore(etcd.endpoint, prefix);
    const reader = testStore(proxy.endpoint, prefix, { fastRecovery: true });
    try {
      const { loop } = await writer.loops.create(loopRequest());
      const tail = take(reader.journal.tail(loop.id), 2000);
      await writeAll(writer, loop.id, async () => {
        proxy.cut();
        await new Promise((r) => setTimeout(r, 1500));
        await proxy.restore();
      });
      checkComplete(await tail, 1, 2000);
    } finally {
      writer.close();
      reader.close();
      await proxy.close();
    }
  });

  test("a tail survives an etcd restart mid-tail", async ({ isolatedEtcd, prefix }) => {
    const writer = testStore(isolatedEtcd.endpoint, prefix, { fastRecovery: true });
    const reader = testStore(isolatedEtcd.endpoint, prefix, { fastRecovery: true });
    try {
      const { loop } = await writer.loops.create(loopRequest());
      const fromStart = take(reader.journal.tail(loop.id), 2000);
      const fromMid = take(reader.journal.tail(loop.id, { afterSeq: 1500 }), 500);
      await writeAll(writer, loop.id, async () => {
        await isolatedEtcd.restart();
      });
      checkComplete(await fromStart, 1, 2000);
      checkComplete(await fromMid, 1501, 2000);
    } finally {
      writer.close();
      reader.close();
    }
  });

  test("a slow tail never buffers without bound: it falls back to paging and misses nothing", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      const iter = store.journal.tail(loop.id, { maxBuffered: 20 });
      const firstBatch = store.journal.append(
        loop.id,
        Array.from({ length: 5 }, (_, i) => entry(`a${i}`)),
      );
      const got: JournalEntry[] = [];
      for await (const e of iter) {
        got.push(e);
        if (got.length === 1) {
          await firstBatch;
          // While this consumer is busy, 300 more entries arrive: far more than it may buffer.
          for (let i = 0; i < 3; i++)
            await store.journal.append(
              loop.id,
              Array.from({ length: 100 }, (_, j) => entry(`b${i}-${j}`)),
            );
        }
        if (got.length === 305) break;
      }
      checkComplete(got, 1, 305);
    } finally {
      store.close();
    }
  });

  test("tails of one loop in one process share one etcd watch; a slow one falls behind alone and misses nothing", async ({
    etcdEndpoint,
    prefix,
  }) => {
    /** etcd's own count of the watchers it serves. */
    const watchers = () => etcdMetric(etcdEndpoint, "etcd_debugging_mvcc_watcher_total");
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      await store.journal.append(loop.id, [entry("before")]);
      const before = await watchers();
      const fast = Array.from({ length: 10 }, () => take(store.journal.tail(loop.id), 301));
      const slowIter = store.journal.tail(loop.id, { maxBuffered: 20 });
      const slow = (async () => {
        const got: JournalEntry[] = [];
        for await (const e of slowIter) {
          got.push(e);
          // Busy on its first entry while the 300 others arrive: more than it may buffer.
          if (got.length === 1) await new Promise((r) => setTimeout(r, 1500));
          if (got.length === 301) break;
        }
        return got;
      })();
      // Every tail has read its backfill and joined the watch before the writes.
      await new Promise((r) => setTimeout(r, 500));
      expect(await watchers()).toBe(before + 1);
      for (let i = 0; i < 3; i++)
        await store.journal.append(
          loop.id,
          Array.from({ length: 100 }, (_, j) => entry(`b${i}-${j}`)),
        );
      for (const got of await Promise.all(fast)) checkComplete(got, 1, 301);
      checkComplete(await slow, 1, 301);
      // The last tail gone, the watch is cancelled.
      await expect.poll(watchers, { timeout: 5000 }).toBe(before);
    } finally {
      store.close();
    }
  });

  test("this process's appends reach its tails without waiting for etcd's watch; another writer's, appended in between, are neither skipped nor doubled", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    const other = testStore(etcdEndpoint, prefix);
    const stop = new AbortController();
    let follow: Promise<void> | undefined;
    try {
      const { loop } = await store.loops.create(loopRequest());
      const got: JournalEntry[] = [];
      let wanted = 0;
      let reached: (() => void) | undefined;
      follow = (async () => {
        for await (const batch of store.journal.tailBatches(loop.id, { signal: stop.signal })) {
          got.push(...batch);
          if (got.length >= wanted) reached?.();
        }
      })();
      const until = (n: number) =>
        new Promise<void>((resolve) => {
          wanted = n;
          reached = resolve;
          if (got.length >= n) resolve();
        });
      await other.journal.append(loop.id, [entry("first")]);
      await until(1);
      // Caught up: the entries this process commits are handed over as they are, the very
      // objects append() returns, unless etcd's watch event for them was read first (then the
      // tail has that decoded copy and drops the early one by seq). Over 20 appends the
      // hand-off wins some; each copy equals the entry either way.
      let handedOver = 0;
      for (let round = 0; round < 20; round++) {
        const mine = await store.journal.append(
          loop.id,
          Array.from({ length: 5 }, (_, i) => entry(`mine${round}-${i}`)),
        );
        await until(1 + 5 * (round + 1));
        got.slice(-5).forEach((e, i) => {
          expect(e).toEqual(mine[i]);
          if (e === mine[i]) handedOver++;
        });
      }
      expect(handedOver).toBeGreaterThan(0);
      // Two writers in two processes: this one's early copies run ahead of the other's events.
      await Promise.all(
        [store, other].map(async (s, w) => {
          for (let i = 0; i < 20; i++)
            await s.journal.append(
              loop.id,
              Array.from({ length: 10 }, (_, j) => entry(`w${w}-${i}-${j}`)),
            );
        }),
      );
      await until(501);
      checkComplete(got, 1, 501);
      // Each copy is the entry etcd stores, field for field.
      const stored: JournalEntry[] = [];
      for (let after = 0; after < 501; after = stored.length)
        stored.push(...(await store.journal.list(loop.id, { afterSeq: after, limit: 500 })).entries);
      expect(got).toEqual(stored);
      expect(JSON.stringify(got)).toBe(JSON.stringify(stored));
    } finally {
      stop.abort();
      await follow;
      store.close();
      other.close();
    }
  });

  test("tailBatches: a busy journal comes as few arrays of at most maxEntries, every entry once and in order", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    const reader = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      await store.journal.append(
        loop.id,
        Array.from({ length: 30 }, (_, i) => entry(`old${i}`)),
      );
      const arrays: JournalEntry[][] = [];
      const total = 25 + 150;
      let seen = 0;
      let backfilled: (() => void) | undefined;
      const backfill = new Promise<void>((resolve) => (backfilled = resolve));
      const done = (async () => {
        for await (const batch of reader.journal.tailBatches(loop.id, { afterSeq: 5, maxEntries: 20 })) {
          arrays.push(batch);
          seen += batch.length;
          if (seen === 25) backfilled?.();
          if (seen >= total) break;
        }
      })();
      await backfill;
      // The backfill (seqs 6..30) came as pages cut at maxEntries.
      expect(arrays.map((a) => a.length)).toEqual([20, 5]);
      for (let i = 0; i < 3; i++)
        await store.journal.append(
          loop.id,
          Array.from({ length: 50 }, (_, j) => entry(`new${i}-${j}`)),
        );
      await done;
      checkComplete(arrays.flat(), 6, 180);
      expect(Math.max(...arrays.map((a) => a.length))).toBeLessThanOrEqual(20);
      // One append's txn arrives as one watch response: its 50 entries are 3 arrays, not 50.
      expect(arrays.length).toBeLessThan(2 + 3 * 6);
    } finally {
      store.close();
      reader.close();
    }
  });

  test("fencing: a writer of a stale attempt is refused and writes nothing", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      const session = await store.openSession();
      const c1 = await store.claims.claimNext(session);
      if (!c1) throw new Error("not claimed");
      await store.locks.acquire(loop.id, 1, { holder: "replica-1" });
      const fence1 = await store.locks.fence(loop.id, 1);
      await store.journal.append(loop.id, [entry("from attempt 1")], { fence: fence1 });
      // The replica is lost; the loop is retried and attempt 2 takes the lock.
      await store.loops.transition(loop.id, { type: "replicaLost", attempt: 1, at: new Date().toISOString() });
      const c2 = await store.claims.claimNext(session);
      expect(c2?.loop.status.attempt).toBe(2);
      await store.locks.acquire(loop.id, 2, { holder: "replica-2" });
      // Attempt 1 still holds an old fence: etcd refuses its write.
      await expect(
        store.journal.append(loop.id, [entry("late write from attempt 1")], { fence: fence1 }),
      ).rejects.toMatchObject({
        code: "stale_attempt",
      });
      await expect(store.locks.fence(loop.id, 1)).rejects.toMatchObject({ code: "stale_attempt" });
      await expect(store.locks.heartbeat(loop.id, 1)).rejects.toMatchObject({ code: "stale_attempt" });
      await expect(store.handoffs.put(loop.id, 1, { validation: { state: "not-run" } }, fence1)).rejects.toMatchObject({
        code: "stale_attempt",
      });
      const all = await store.journal.list(loop.id);
      expect(all.entries.map((e) => e.message)).toEqual(["from attempt 1"]);
      await store.journal.append(loop.id, [entry("from attempt 2")], { fence: await store.locks.fence(loop.id, 2) });
      expect((await store.journal.head(loop.id)).seq).toBe(2);
    } finally {
      store.close();
    }
  });
});
