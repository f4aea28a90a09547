import type { CreateLoopRequest } from "@smith/core";
import { LocalProcessExecutor } from "@smith/executor";
import { silentLogger } from "@smith/logger";
import { SmithStore } from "@smith/store";
import { etcdTest as test, startTcpProxy } from "@smith/testing";
import { join } from "node:path";
import { describe, expect, vi } from "vitest";
import { Scheduler } from "./scheduler.ts";

const PRD = JSON.stringify({
  project: "p",
  qualityGates: ["true"],
  stories: [{ id: "A", title: "a", status: "open", acceptanceCriteria: ["c"] }],
});
const request: CreateLoopRequest = {
  spec: { repo: { url: "file:///nowhere.git" }, prd: { kind: "inline", content: PRD }, agent: { provider: "replay" } },
};

describe("scheduler", () => {
  test("started while etcd is unreachable, it waits with backoff and claims once etcd answers", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const url = new URL(etcdEndpoint);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    const direct = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    const store = new SmithStore({ endpoints: [proxy.endpoint], prefix, dialTimeoutMs: 300, callTimeoutMs: 1_000 });
    const executor = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/sh", "-c", "sleep 30"], env: {} });
    const scheduler = new Scheduler({
      store,
      executor,
      signingKey: "k".repeat(32),
      log: silentLogger,
      maxReconnectDelayMs: 500,
      sessionTtlSeconds: 3,
    });
    try {
      proxy.cut();
      const started = scheduler.start();
      const { loop } = await direct.loops.create(request);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(scheduler.state).toBe("starting");
      expect((await direct.loops.getOrThrow(loop.id)).loop.status.state).toBe("unresolved");
      await proxy.restore();
      await started;
      expect(scheduler.state).toBe("running");
      await vi.waitFor(
        async () => expect((await direct.loops.getOrThrow(loop.id)).loop.status.executor?.kind).toBe("local"),
        { timeout: 15_000, interval: 200 },
      );
    } finally {
      await scheduler.stop();
      for (const r of await executor.list()) await executor.stop(r.handle);
      store.close();
      direct.close();
      await proxy.close();
    }
  });

  test("a scheduler cut off between claim and start: its loop is claimed again once its lease expires, not after the start grace, and the lost attempt does not count", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const url = new URL(etcdEndpoint);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    const direct = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    // The scheduler that dies: its claims ride on a 2 s session lease, through a connection we cut.
    const dying = new SmithStore({ endpoints: [proxy.endpoint], prefix, dialTimeoutMs: 300, callTimeoutMs: 1_000 });
    const executor = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/sh", "-c", "sleep 30"], env: {} });
    const scheduler = new Scheduler({
      store: direct,
      executor,
      signingKey: "k".repeat(32),
      log: silentLogger,
      // Ten minutes: the test ends long before, so only the claim's lease can be the evidence.
      startGraceMs: 600_000,
    });
    try {
      const { loop } = await direct.loops.create({ ...request, spec: { ...request.spec, limits: { maxAttempts: 1 } } });
      const session = await dying.openSession({ ttlSeconds: 2 });
      expect((await dying.claims.claimNext(session))?.loop.id).toBe(loop.id);
      await scheduler.start();
      proxy.cut();
      await vi.waitFor(
        async () =>
          expect((await direct.loops.getOrThrow(loop.id)).loop.status).toMatchObject({
            state: "running",
            attempt: 2,
            attemptBase: 1,
            executor: { kind: "local" },
          }),
        { timeout: 20_000, interval: 200 },
      );
      const messages = (await direct.journal.list(loop.id)).entries.map((e) => e.message);
      expect(messages).toContainEqual(expect.stringMatching(/attempt 1 never started/));
    } finally {
      await scheduler.stop();
      for (const r of await executor.list()) await executor.stop(r.handle);
      dying.close();
      direct.close();
      await proxy.close();
    }
  });

  test("stop() of the elected reconciler: another is elected at once, not after the election TTL; its running loop keeps its replica and attempt", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    const make = (dir: string) => {
      const executor = new LocalProcessExecutor({
        stateDir: join(tmpDir, dir),
        command: ["/bin/sleep", "30"],
        env: {},
      });
      const own = new SmithStore({ endpoints: [etcdEndpoint], prefix });
      const scheduler = new Scheduler({
        store: own,
        executor,
        signingKey: "k".repeat(32),
        log: silentLogger,
        // An election TTL far above the handover asserted below: only a resignation explains it.
        sessionTtlSeconds: 20,
      });
      return { executor, scheduler, store: own };
    };
    const a = make("a");
    const b = make("b");
    try {
      const { loop } = await store.loops.create(request);
      await a.scheduler.start();
      await vi.waitFor(() => expect(a.scheduler.elected).toBe(true), { timeout: 10_000, interval: 50 });
      await vi.waitFor(
        async () => expect((await store.loops.getOrThrow(loop.id)).loop.status.executor?.kind).toBe("local"),
        { timeout: 15_000, interval: 100 },
      );
      await b.scheduler.start();
      expect(b.scheduler.elected).toBe(false);
      const t0 = Date.now();
      await a.scheduler.stop();
      expect(a.scheduler.elected).toBe(false);
      await vi.waitFor(() => expect(b.scheduler.elected).toBe(true), { timeout: 5_000, interval: 20 });
      expect(Date.now() - t0).toBeLessThan(5_000);
      // Nothing to hand over: the claim record went with a's lease, the loop runs on a's replica.
      expect(await store.claims.claimHeld(loop.id, 1)).toBe(false);
      expect((await store.loops.getOrThrow(loop.id)).loop.status).toMatchObject({ state: "running", attempt: 1 });
      expect((await a.executor.list()).map((r) => r.status.phase)).toEqual(["running"]);
    } finally {
      await a.scheduler.stop();
      await b.scheduler.stop();
      for (const s of [a, b]) {
        for (const r of await s.executor.list()) await s.executor.stop(r.handle);
        s.store.close();
      }
      store.close();
    }
  });

  test("stop() while it waits for etcd ends start() with the scheduler stopped", async ({ tmpDir }) => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: 9 });
    proxy.cut();
    const store = new SmithStore({ endpoints: [proxy.endpoint], dialTimeoutMs: 300, callTimeoutMs: 1_000 });
    const executor = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/true"], env: {} });
    const scheduler = new Scheduler({ store, executor, signingKey: "k".repeat(32), log: silentLogger });
    try {
      const started = scheduler.start();
      await new Promise((r) => setTimeout(r, 700));
      expect(scheduler.state).toBe("starting");
      await scheduler.stop();
      await started;
      expect(scheduler.state).toBe("stopped");
    } finally {
      store.close();
      await proxy.close();
    }
  });

  test("a key over its daily budget: its loop stays queued and its journal says why once, not every pass", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    // The replica stays up: one that exits at once would be retried (and flatlined) by the reconciler.
    const executor = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/sh", "-c", "sleep 30"], env: {} });
    const scheduler = new Scheduler({
      store,
      executor,
      signingKey: "k".repeat(32),
      log: silentLogger,
      claim: { perKeyLimit: 5, budgetPerKeyUsdPerDay: 1 },
      pollIntervalMs: 100,
    });
    try {
      // A loop of the key spent $1.50 today.
      const spender = (await store.loops.create({ ...request, concurrencyKey: "costly" })).loop;
      const session = await store.openSession({ ttlSeconds: 10 });
      await store.claims.claimNext(session);
      const at = new Date().toISOString();
      const cost = { inputTokens: 1, outputTokens: 1, usd: 1.5 };
      await store.loops.transition(spender.id, { type: "iterationRecorded", attempt: 1, iteration: 1, cost, at });
      await session.close();

      const held = (await store.loops.create({ ...request, concurrencyKey: "costly" })).loop;
      const other = (await store.loops.create({ ...request, concurrencyKey: "cheap" })).loop;
      await scheduler.start();
      await vi.waitFor(async () => expect((await store.loops.getOrThrow(other.id)).loop.status.state).toBe("running"), {
        timeout: 30_000,
        interval: 100,
      });
      // The entry is written apart from the claim loop: wait for it, then for more passes.
      const scheduled = async () => (await store.journal.list(held.id)).entries.filter((e) => e.phase === "scheduled");
      await vi.waitFor(async () => expect(await scheduled()).toHaveLength(1), { timeout: 15_000, interval: 100 });
      for (let i = 0; i < 5; i++) {
        scheduler.poke();
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await store.loops.getOrThrow(held.id)).loop.status).toMatchObject({ state: "unresolved", attempt: 0 });
      const notes = await scheduled();
      expect(notes).toHaveLength(1);
      expect(notes[0]?.message).toMatch(
        /^not claimed: concurrency key costly spent \$1\.50 of its \$1 budget for \d{4}-\d{2}-\d{2} \(UTC\); the loop stays queued until 00:00 UTC$/,
      );
    } finally {
      await scheduler.stop();
      for (const r of await executor.list()) await executor.stop(r.handle);
      store.close();
    }
  });
});
