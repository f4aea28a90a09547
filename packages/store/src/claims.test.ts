import type { Loop } from "@smith/core";
import { etcdTest as test, startTcpProxy } from "@smith/testing";
import { describe, expect } from "vitest";
import type { SmithStore } from "./store.ts";
import { loopRequest, testStore } from "./testSupport.ts";

async function drain(
  store: SmithStore,
  session: Awaited<ReturnType<SmithStore["openSession"]>>,
  options = {},
): Promise<{ loop: Loop; revision: string }[]> {
  const out: { loop: Loop; revision: string }[] = [];
  for (;;) {
    const claimed = await store.claims.claimNext(session, { perKeyLimit: 10_000, ...options });
    if (!claimed) return out;
    out.push(claimed);
  }
}

describe("claiming", () => {
  test("exactly-once: 8 concurrent claimers (own clients and leases) over 300 queued loops", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const creator = testStore(etcdEndpoint, prefix);
    const claimers = Array.from({ length: 8 }, () => testStore(etcdEndpoint, prefix));
    try {
      const priorities = [0, 100, 500, 999];
      const requests = Array.from({ length: 300 }, (_, i) => loopRequest({ priority: priorities[i % 4] }));
      for (let i = 0; i < requests.length; i += 100) {
        const res = await creator.loops.createBatch(requests.slice(i, i + 100));
        expect(res.every((r) => r.ok)).toBe(true);
      }
      const sessions = await Promise.all(claimers.map((s) => s.openSession({ ttlSeconds: 30 })));
      const results = await Promise.all(
        claimers.map((s, i) => drain(s, sessions[i] as NonNullable<(typeof sessions)[number]>)),
      );
      const all = results.flat();
      const ids = all.map((c) => c.loop.id);
      expect(ids).toHaveLength(300);
      expect(new Set(ids).size).toBe(300);
      for (const c of all) expect(c.loop.status).toMatchObject({ state: "running", attempt: 1 });
      // In etcd's order of the claim txns (their revisions), priority never goes up and, within a
      // priority, loops are claimed in the order they were enqueued.
      const byRevision = [...all].sort((a, b) => Number(a.revision) - Number(b.revision));
      const order = byRevision.map((c) => [String(999 - c.loop.priority).padStart(3, "0"), c.loop.id].join(":"));
      expect(order).toEqual([...order].sort());
      expect(await creator.client.getAll().prefix(creator.keys.queuePrefix()).count()).toBe(0);
      expect(await creator.client.getAll().prefix(creator.keys.claimsPrefix()).count()).toBe(300);
      const conflicts = claimers.reduce((n, s) => n + s.claims.stats.conflicts, 0);
      expect(conflicts).toBeGreaterThanOrEqual(0);
      await Promise.all(sessions.map((s) => s.close()));
      expect(await creator.client.getAll().prefix(creator.keys.claimsPrefix()).count()).toBe(0);
    } finally {
      creator.close();
      for (const s of claimers) s.close();
    }
  });

  test("spread claimers (read-ahead claimer, random start) claim each loop once and keep FIFO per concurrency key", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const creator = testStore(etcdEndpoint, prefix);
    const claimers = Array.from({ length: 4 }, () => testStore(etcdEndpoint, prefix));
    try {
      const requests = Array.from({ length: 90 }, (_, i) => loopRequest({ concurrencyKey: `key-${i % 3}` }));
      const res = await creator.loops.createBatch(requests);
      expect(res.every((r) => r.ok)).toBe(true);
      const sessions = await Promise.all(claimers.map((s) => s.openSession({ ttlSeconds: 30 })));
      const results = await Promise.all(
        claimers.map(async (s, i) => {
          const session = sessions[i];
          if (!session) throw new Error("no session");
          const claimer = s.claims.claimer(session, { perKeyLimit: 10_000, spread: 32 });
          const out: { loop: Loop; revision: string }[] = [];
          for (let c = await claimer.next(); c; c = await claimer.next()) out.push(c);
          return out;
        }),
      );
      const all = results.flat();
      expect(all).toHaveLength(90);
      expect(new Set(all.map((c) => c.loop.id)).size).toBe(90);
      for (const key of ["key-0", "key-1", "key-2"]) {
        const ofKey = all
          .filter((c) => c.loop.concurrencyKey === key)
          .sort((a, b) => Number(a.revision) - Number(b.revision))
          .map((c) => c.loop.id);
        expect(ofKey).toEqual([...ofKey].sort());
      }
      await Promise.all(sessions.map((s) => s.close()));
    } finally {
      creator.close();
      for (const s of claimers) s.close();
    }
  });

  test("a concurrency key limit of 2 is never exceeded until slots are released", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    const other = testStore(etcdEndpoint, prefix);
    try {
      for (let i = 0; i < 6; i++) await store.loops.create(loopRequest({ concurrencyKey: "repo-a" }));
      await store.loops.create(loopRequest({ concurrencyKey: "repo-b" }));
      const s1 = await store.openSession();
      const s2 = await other.openSession();
      const opts = { perKeyLimit: 1, keyLimits: { "repo-a": 2 } };
      const claimed = (await Promise.all([drain(store, s1, opts), drain(other, s2, opts)])).flat();
      expect(claimed.filter((c) => c.loop.concurrencyKey === "repo-a")).toHaveLength(2);
      expect(claimed.filter((c) => c.loop.concurrencyKey === "repo-b")).toHaveLength(1);
      expect(await store.claims.claimNext(s1, opts)).toBeUndefined();

      // Finishing one repo-a loop releases its slot in the same txn: exactly one more can run.
      const first = claimed.find((c) => c.loop.concurrencyKey === "repo-a");
      if (!first) throw new Error("no repo-a claim");
      await store.loops.transition(first.loop.id, {
        type: "cancelRequested",
        reason: "done",
        at: new Date().toISOString(),
      });
      const next = await store.claims.claimNext(s1, opts);
      expect(next?.loop.concurrencyKey).toBe("repo-a");
      expect(await store.claims.claimNext(s2, opts)).toBeUndefined();
      const running = await store.loops.list({ state: "running" });
      expect(running.items.filter((l) => l.concurrencyKey === "repo-a")).toHaveLength(2);
      // Running it twice changes nothing: no slot is stale.
      expect(await store.claims.releaseStaleSlots()).toBe(0);
      expect(await store.claims.releaseStaleSlots()).toBe(0);
    } finally {
      store.close();
      other.close();
    }
  });

  test("a global maximum of running loops holds across keys", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      for (let i = 0; i < 5; i++) await store.loops.create(loopRequest({ concurrencyKey: `k${i}` }));
      const session = await store.openSession();
      const claimed = await drain(store, session, { maxRunning: 3 });
      expect(claimed).toHaveLength(3);
    } finally {
      store.close();
    }
  });

  test("lease revoked: the claims disappear and the loops can be claimed again", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      for (let i = 0; i < 3; i++) await store.loops.create(loopRequest({ concurrencyKey: `k${i}` }));
      const dead = await store.openSession({ ttlSeconds: 5 });
      const claimed = await drain(store, dead);
      expect(claimed).toHaveLength(3);
      await dead.close();
      expect(await store.client.getAll().prefix(store.keys.claimsPrefix()).count()).toBe(0);
      // No replica took them: the reconciler retries them (replicaLost), and they are claimable again.
      for (const c of claimed) {
        const { loop, revision } = await store.loops.getOrThrow(c.loop.id);
        expect(loop.status.state).toBe("running");
        await store.loops.transition(
          loop.id,
          { type: "replicaLost", attempt: loop.status.attempt, at: new Date().toISOString() },
          { expectedRevision: revision },
        );
      }
      const alive = await store.openSession();
      const again = await drain(store, alive);
      expect(again.map((c) => c.loop.id).sort()).toEqual(claimed.map((c) => c.loop.id).sort());
      for (const c of again) expect(c.loop.status.attempt).toBe(2);
    } finally {
      store.close();
    }
  });

  test("lease expired (connection cut past the TTL): the session reports lost and its claims vanish", async ({
    etcd,
    prefix,
  }) => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: etcd.clientPort });
    const direct = testStore(etcd.endpoint, prefix);
    const viaProxy = testStore(proxy.endpoint, prefix, { fastRecovery: true });
    try {
      await direct.loops.create(loopRequest());
      const session = await viaProxy.openSession({ ttlSeconds: 2 });
      const lost = new Promise<void>((resolve) => session.once("lost", () => resolve()));
      const claimed = await viaProxy.claims.claimNext(session);
      expect(claimed).toBeDefined();
      expect(await direct.client.getAll().prefix(direct.keys.claimsPrefix()).count()).toBe(1);
      proxy.cut();
      await lost;
      expect(session.state).toBe("lost");
      // etcd expires the lease by itself: the claim is gone without anyone deleting it.
      for (let i = 0; i < 50 && (await direct.client.getAll().prefix(direct.keys.claimsPrefix()).count()) > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(await direct.client.getAll().prefix(direct.keys.claimsPrefix()).count()).toBe(0);
      expect(await viaProxy.claims.claimNext(session)).toBeUndefined();
    } finally {
      direct.close();
      viaProxy.close();
      await proxy.close();
    }
  });

  test("backoff: a retried loop is not claimed before its notBefore", async ({ etcdEndpoint, prefix }) => {
    let now = Date.now();
    const store = testStore(etcdEndpoint, prefix, { now: () => new Date(now) });
    try {
      await store.loops.create(loopRequest());
      const session = await store.openSession();
      const first = await store.claims.claimNext(session);
      if (!first) throw new Error("not claimed");
      await store.loops.transition(first.loop.id, {
        type: "replicaLost",
        attempt: 1,
        backoffMs: 10_000,
        at: new Date(now).toISOString(),
      });
      expect(await store.claims.claimNext(session)).toBeUndefined();
      now += 10_001;
      const second = await store.claims.claimNext(session);
      expect(second?.loop.status.attempt).toBe(2);
    } finally {
      store.close();
    }
  });

  test("a per-key daily budget: a key that spent it today is not claimed (its loops stay queued), other keys are; the next day it is", async ({
    etcdEndpoint,
    prefix,
  }) => {
    let now = Date.parse("2026-03-01T22:00:00.000Z");
    const store = testStore(etcdEndpoint, prefix, { now: () => new Date(now) });
    try {
      const session = await store.openSession({ ttlSeconds: 30 });
      const spender = (await store.loops.create(loopRequest({ concurrencyKey: "repo-a" }))).loop;
      const claimed = await store.claims.claimNext(session, { perKeyLimit: 5 });
      expect(claimed?.loop.id).toBe(spender.id);
      const at = new Date(now).toISOString();
      // Two iterations' cost: the day's spend grows with each, in the loop's own txn.
      for (const [iteration, usd] of [
        [1, 1.25],
        [2, 0.75],
      ] as const) {
        await store.loops.transition(spender.id, {
          type: "iterationRecorded",
          attempt: 1,
          iteration,
          cost: { inputTokens: 10, outputTokens: 1, usd },
          at,
        });
      }
      const spend = await store.client.get(store.keys.spend("2026-03-01", "repo-a", spender.id)).string();
      expect(JSON.parse(spend ?? "{}")).toMatchObject({ loopId: spender.id, day: "2026-03-01", usd: 2 });

      const queuedA = (await store.loops.create(loopRequest({ concurrencyKey: "repo-a" }))).loop;
      const queuedB = (await store.loops.create(loopRequest({ concurrencyKey: "repo-b" }))).loop;
      const told: unknown[] = [];
      const options = { perKeyLimit: 5, budgetPerKeyUsdPerDay: 2, onBudgetExceeded: (e: unknown) => told.push(e) };
      const first = await store.claims.claimNext(session, options);
      expect(first?.loop.id).toBe(queuedB.id);
      expect(await store.claims.claimNext(session, options)).toBeUndefined();
      expect(told[0]).toEqual({
        loopId: queuedA.id,
        concurrencyKey: "repo-a",
        day: "2026-03-01",
        spentUsd: 2,
        budgetUsd: 2,
      });
      expect((await store.loops.getOrThrow(queuedA.id)).loop.status.state).toBe("unresolved");
      // Under the budget, or on the next UTC day, the key is claimed again.
      expect((await store.claims.claimNext(session, { ...options, budgetPerKeyUsdPerDay: 2.5 }))?.loop.id).toBe(
        queuedA.id,
      );
      const another = (await store.loops.create(loopRequest({ concurrencyKey: "repo-a" }))).loop;
      expect(await store.claims.claimNext(session, options)).toBeUndefined();
      now += 3 * 3600_000;
      expect((await store.claims.claimNext(session, options))?.loop.id).toBe(another.id);
      // Days before the given one are pruned; the day itself stays.
      await store.claims.pruneSpend(new Date("2026-03-01T12:00:00.000Z"));
      expect(await store.client.getAll().prefix(store.keys.spendPrefix()).count()).toBe(1);
      await store.claims.pruneSpend(new Date("2026-03-02T00:00:00.000Z"));
      expect(await store.client.getAll().prefix(store.keys.spendPrefix()).count()).toBe(0);
    } finally {
      store.close();
    }
  });
});
