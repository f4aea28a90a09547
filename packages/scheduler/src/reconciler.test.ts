import { silentLogger } from "@smith/logger";
import type { CreateLoopRequest } from "@smith/core";
import { LocalProcessExecutor } from "@smith/executor";
import { SmithStore } from "@smith/store";
import { etcdTest as test } from "@smith/testing";
import { describe, expect, vi } from "vitest";
import { Reconciler } from "./reconciler.ts";

const PRD = JSON.stringify({
  project: "p",
  qualityGates: ["true"],
  stories: [{ id: "A", title: "a", status: "open", acceptanceCriteria: ["c"] }],
});
const request = (limits: Record<string, number> = {}): CreateLoopRequest => ({
  spec: {
    repo: { url: "file:///nowhere.git" },
    prd: { kind: "inline", content: PRD },
    agent: { provider: "replay" },
    limits,
  },
});

function setup(endpoint: string, prefix: string, dir: string, command: string[] = ["/bin/sh", "-c", "exit 0"]) {
  let now = Date.now();
  const clock = () => new Date(now);
  const store = new SmithStore({ endpoints: [endpoint], prefix, now: clock });
  const executor = new LocalProcessExecutor({ stateDir: dir, command, env: {}, stopGraceMs: 500 });
  const reconciler = new Reconciler({
    store,
    executor,
    startGraceMs: 10_000,
    retryBackoffMs: 1_000,
    log: silentLogger,
    now: clock,
  });
  return { store, executor, reconciler, advance: (ms: number) => (now += ms) };
}

describe("reconciler", () => {
  test("a claimed loop whose replica never started is retried after the grace; a second pass changes nothing", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const { store, reconciler, advance } = setup(etcdEndpoint, prefix, tmpDir);
    try {
      const { loop } = await store.loops.create(request());
      const session = await store.openSession();
      await store.claims.claimNext(session);
      expect((await reconciler.runOnce()).retried).toEqual([]);
      advance(11_000);
      const first = await reconciler.runOnce();
      expect(first.retried).toEqual([loop.id]);
      const after = await store.loops.getOrThrow(loop.id);
      expect(after.loop.status).toMatchObject({ state: "unresolved", reason: "retry-scheduled", attempt: 1 });
      const second = await reconciler.runOnce();
      expect(second).toEqual({
        retried: [],
        flatlined: [],
        timedOut: [],
        stopped: [],
        slotsReleased: 0,
        purged: [],
        resumed: [],
        abandoned: [],
        requeued: [],
      });
      expect((await store.loops.getOrThrow(loop.id)).revision).toBe(after.revision);
    } finally {
      store.close();
    }
  });

  test("attempts exhausted: flatline with replica-lost", async ({ etcdEndpoint, prefix, tmpDir }) => {
    const { store, reconciler, advance } = setup(etcdEndpoint, prefix, tmpDir);
    try {
      const { loop } = await store.loops.create(request({ maxAttempts: 2 }));
      const session = await store.openSession();
      for (let i = 0; i < 2; i++) {
        advance(60_000);
        expect((await store.claims.claimNext(session))?.loop.status.attempt).toBe(i + 1);
        advance(11_000);
        await reconciler.runOnce();
      }
      expect((await store.loops.getOrThrow(loop.id)).loop.status).toMatchObject({
        state: "flatline",
        reason: "replica-lost",
        attempt: 2,
      });
      expect(await store.client.getAll().prefix(store.keys.slotsPrefix()).count()).toBe(0);
    } finally {
      store.close();
    }
  });

  test("waiting loops: a quota loop resumes after its reset time, a person's loop is abandoned after its waiting timeout", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const { store, reconciler, advance } = setup(etcdEndpoint, prefix, tmpDir);
    try {
      const session = await store.openSession();
      const park = async (reason: "quota" | "needs-human", resumeAt?: string) => {
        const { loop } = await store.loops.create(request({ waitingTimeoutMs: 60_000 }));
        const claimed = await store.claims.claimNext(session);
        expect(claimed?.loop.id).toBe(loop.id);
        const at = new Date(Date.now()).toISOString();
        await store.loops.transition(loop.id, {
          type: "finalized",
          attempt: 1,
          outcome: "waiting",
          reason,
          resumeAt,
          at,
        });
        return loop.id;
      };
      const quota = await park("quota", new Date(Date.now() + 30_000).toISOString());
      const human = await park("needs-human");
      // Waiting holds no slot: the attempt released it.
      expect(await store.client.getAll().prefix(store.keys.slotsPrefix()).count()).toBe(0);
      expect(await reconciler.runOnce()).toMatchObject({ resumed: [], abandoned: [] });

      advance(31_000);
      expect(await reconciler.runOnce()).toMatchObject({ resumed: [quota], abandoned: [] });
      expect((await store.loops.getOrThrow(quota)).loop.status).toMatchObject({
        state: "unresolved",
        reason: "quota-reset",
      });
      expect((await store.loops.getOrThrow(human)).loop.status.state).toBe("waiting");

      advance(30_000);
      expect(await reconciler.runOnce()).toMatchObject({ resumed: [], abandoned: [human] });
      expect((await store.loops.getOrThrow(human)).loop.status).toMatchObject({
        state: "flatline",
        reason: "abandoned",
      });
      const journal = await store.journal.list(human);
      expect(journal.entries.at(-1)?.message).toMatch(/without an answer: flatline \(abandoned\)/);
    } finally {
      store.close();
    }
  });

  test("a replica its own executor reports ended is retried at once, without waiting for the start grace", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const { store, executor, reconciler, advance } = setup(etcdEndpoint, prefix, tmpDir);
    try {
      const { loop } = await store.loops.create(request());
      const session = await store.openSession();
      const claimed = await store.claims.claimNext(session);
      if (!claimed) throw new Error("not claimed");
      const handle = await executor.start({ loop: claimed.loop, attempt: 1, token: "t" });
      await store.loops.transition(loop.id, {
        type: "replicaStarted",
        attempt: 1,
        handle,
        at: new Date().toISOString(),
      });
      await store.locks.acquire(loop.id, 1, { holder: "r", ttlMs: 3_000 });
      await vi.waitFor(async () => expect((await executor.status(handle)).phase).toBe("succeeded"));
      expect((await reconciler.runOnce()).retried).toEqual([]);
      advance(3_500);
      expect((await reconciler.runOnce()).retried).toEqual([loop.id]);
      expect((await store.loops.getOrThrow(loop.id)).loop.status.message).toMatch(/its executor reports it succeeded/);
    } finally {
      store.close();
    }
  });

  test("a replica started by another host's executor is judged by its lock alone: an expired lock is lost only after the grace", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const { store, reconciler, advance } = setup(etcdEndpoint, prefix, tmpDir);
    try {
      const { loop } = await store.loops.create(request());
      const session = await store.openSession();
      await store.claims.claimNext(session);
      // The handle of a replica this reconciler's executor never started and cannot see.
      const handle = { kind: "local", id: `${loop.id}-1`, instance: "other-host/1" };
      await store.loops.transition(loop.id, {
        type: "replicaStarted",
        attempt: 1,
        handle,
        at: new Date().toISOString(),
      });
      await store.locks.acquire(loop.id, 1, { holder: "r", ttlMs: 3_000 });
      advance(3_500);
      // Cut off from the API for a moment (its lock expired), not gone: it keeps its attempt.
      expect(await reconciler.runOnce()).toMatchObject({ retried: [], stopped: [] });
      await store.locks.heartbeat(loop.id, 1, { ttlMs: 3_000 });
      advance(9_000);
      expect((await reconciler.runOnce()).retried).toEqual([]);
      advance(5_000);
      expect((await reconciler.runOnce()).retried).toEqual([loop.id]);
      expect((await store.loops.getOrThrow(loop.id)).loop.status.message).toMatch(/judged by its lock/);
    } finally {
      store.close();
    }
  });

  test("timeouts are enforced and the replica stopped; replicas of cancelled loops are stopped", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const { store, executor, reconciler, advance } = setup(etcdEndpoint, prefix, tmpDir, [
      "/bin/sh",
      "-c",
      "sleep 1000",
    ]);
    try {
      const { loop: slow } = await store.loops.create(request({ timeoutMs: 5_000 }));
      const { loop: doomed } = await store.loops.create(request());
      const session = await store.openSession();
      for (let i = 0; i < 2; i++) {
        const claimed = await store.claims.claimNext(session, { perKeyLimit: 5 });
        if (!claimed) throw new Error("not claimed");
        const handle = await executor.start({ loop: claimed.loop, attempt: 1, token: "t" });
        await store.loops.transition(claimed.loop.id, {
          type: "replicaStarted",
          attempt: 1,
          handle,
          at: new Date().toISOString(),
        });
        await store.locks.acquire(claimed.loop.id, 1, { holder: "r", ttlMs: 600_000 });
      }
      await store.loops.transition(doomed.id, {
        type: "cancelRequested",
        reason: "stop it",
        at: new Date().toISOString(),
      });
      advance(6_000);
      const report = await reconciler.runOnce();
      expect(report.timedOut).toEqual([slow.id]);
      // A replica whose loop has just finished is left to exit by itself for the grace.
      expect(report.stopped).toEqual([]);
      advance(5_000);
      expect((await reconciler.runOnce()).stopped).toEqual([doomed.id]);
      expect((await store.loops.getOrThrow(slow.id)).loop.status).toMatchObject({
        state: "flatline",
        reason: "timed-out",
      });
      for (const r of await executor.list()) expect(r.status.phase).not.toBe("running");
      const again = await reconciler.runOnce();
      expect(again).toEqual({
        retried: [],
        flatlined: [],
        timedOut: [],
        stopped: [],
        slotsReleased: 0,
        purged: [],
        resumed: [],
        abandoned: [],
        requeued: [],
      });
    } finally {
      store.close();
    }
  });

  test("a claim whose scheduler went away before starting a replica is queued again at once, the attempt not counted", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const { store, reconciler } = setup(etcdEndpoint, prefix, tmpDir);
    try {
      const { loop } = await store.loops.create(request({ maxAttempts: 1 }));
      const gone = await store.openSession();
      await store.claims.claimNext(gone);
      // Alive and within the grace: nothing to do.
      expect((await reconciler.runOnce()).requeued).toEqual([]);
      // The scheduler dies: its lease (and the claim's slots on it) is gone, no replica was recorded.
      await gone.close();
      const report = await reconciler.runOnce();
      expect(report).toMatchObject({ requeued: [loop.id], retried: [], flatlined: [] });
      expect((await store.loops.getOrThrow(loop.id)).loop.status).toMatchObject({
        state: "unresolved",
        attempt: 1,
        attemptBase: 1,
      });
      expect((await store.journal.list(loop.id)).entries.map((e) => e.message)).toContainEqual(
        expect.stringMatching(/attempt 1 never started.*queued again, the attempt not counted/),
      );
      // With maxAttempts 1, the next claim is still the loop's one counted attempt.
      const session = await store.openSession();
      const again = await store.claims.claimNext(session);
      expect(again?.loop.status).toMatchObject({ state: "running", attempt: 2, attemptBase: 1 });
    } finally {
      store.close();
    }
  });

  test("retention: finished loops are purged with their journal once they are older than the policy; running ones never", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    let now = Date.now();
    const clock = () => new Date(now);
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix, now: clock });
    const executor = new LocalProcessExecutor({
      stateDir: tmpDir,
      command: ["/bin/sh", "-c", "exit 0"],
      env: {},
      stopGraceMs: 500,
    });
    const reconciler = new Reconciler({
      store,
      executor,
      startGraceMs: 600_000,
      retryBackoffMs: 1_000,
      log: silentLogger,
      now: clock,
      retention: { windows: { synced: 86_400_000, flatline: 86_400_000, cancelled: 86_400_000 } },
    });
    try {
      const { loop: done } = await store.loops.create({ ...request(), idempotencyKey: "old-request" });
      const { loop: live } = await store.loops.create(request());
      await store.journal.append(done.id, [{ phase: "lifecycle", actor: { type: "operator", id: "t" }, message: "x" }]);
      await store.audit.append({
        actor: { type: "operator", id: "t" },
        action: "loops.cancel",
        loopId: done.id,
        correlationId: "c",
      });
      await store.loops.transition(done.id, { type: "cancelRequested", reason: "done", at: clock().toISOString() });
      const session = await store.openSession();
      await store.claims.claimNext(session);
      expect((await reconciler.runOnce()).purged).toEqual([]);
      now += 86_400_001;
      const report = await reconciler.runOnce();
      expect(report.purged).toEqual([done.id]);
      expect(await store.loops.get(done.id)).toBeUndefined();
      expect(await store.client.getAll().prefix(store.keys.journalPrefix(done.id)).count()).toBe(0);
      expect(await store.client.get(store.keys.idempotency("old-request")).exists()).toBe(false);
      // The audit event itself stays: it is the record of who did what; the deletion has its own.
      const events = (await store.audit.list()).items;
      expect(events.map((e) => e.action)).toContain("loops.cancel");
      expect(events.find((e) => e.action === "retention")).toMatchObject({
        actor: { type: "scheduler", id: "reconciler" },
        loopId: done.id,
        outcome: "ok",
        details: { state: "cancelled" },
      });
      // The other loop was running: this pass timed it out (a day past its 4 h timeout), but it
      // finished only now, so it is kept.
      expect(report.timedOut).toEqual([live.id]);
      expect((await store.loops.getOrThrow(live.id)).loop.status.state).toBe("flatline");
      expect((await reconciler.runOnce()).purged).toEqual([]);
    } finally {
      store.close();
    }
  });

  test("the safety nets (stale slots, old spend, retention) run at most once per maintenance interval", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const T = Date.now();
    let now = T - 2 * 86_400_000;
    const clock = () => new Date(now);
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix, now: clock });
    const executor = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/true"], env: {}, stopGraceMs: 500 });
    const reconciler = new Reconciler({
      store,
      executor,
      startGraceMs: 600_000,
      retryBackoffMs: 1_000,
      log: silentLogger,
      now: clock,
      retention: { windows: { synced: 86_400_000, flatline: 86_400_000, cancelled: 86_400_000 } },
      maintenanceIntervalMs: 60_000,
    });
    const finish = async () => {
      const { loop } = await store.loops.create(request());
      await store.loops.transition(loop.id, { type: "cancelRequested", reason: "done", at: clock().toISOString() });
      return loop.id;
    };
    try {
      const a = await finish();
      now = T - 86_400_000 + 10_000;
      // Due for deletion 10 s after T.
      const b = await finish();
      now = T;
      expect((await reconciler.runOnce()).purged).toEqual([a]);
      now = T + 30_000;
      expect((await reconciler.runOnce()).purged).toEqual([]);
      expect(await store.loops.get(b)).toBeDefined();
      now = T + 61_000;
      expect((await reconciler.runOnce()).purged).toEqual([b]);
    } finally {
      store.close();
    }
  });
});
