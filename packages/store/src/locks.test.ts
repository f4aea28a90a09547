import type { JournalEntryRequest } from "@smith/core";
import { etcdTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { DEFAULT_LOCK_TTL_MS } from "./locks.ts";
import type { Session } from "./session.ts";
import type { SmithStore } from "./store.ts";
import { loopRequest, testStore } from "./testSupport.ts";

const entry = (message: string): JournalEntryRequest => ({
  phase: "agent",
  actor: { type: "replica", id: "r" },
  message,
});

/** A clock that tests move by hand. */
function manualClock(start = Date.parse("2024-04-01T08:00:00.000Z")) {
  let ms = start;
  return {
    now: () => new Date(ms),
    advance: (by: number) => {
      ms += by;
    },
  };
}

/** Creates a loop and claims it, so that it is running on attempt 1. */
async function runningLoop(store: SmithStore, session: Session, concurrencyKey = "k"): Promise<string> {
  const { loop } = await store.loops.create(loopRequest({ concurrencyKey }));
  const claimed = await store.claims.claimNext(session);
  if (claimed?.loop.id !== loop.id) throw new Error(`loop ${loop.id} was not claimed`);
  expect(claimed.loop.status).toMatchObject({ state: "running", attempt: 1 });
  return loop.id;
}

describe("replica locks", () => {
  test("acquire needs the loop running on exactly that attempt", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop: queued } = await store.loops.create(loopRequest({ concurrencyKey: "queued" }));
      await expect(store.locks.acquire(queued.id, 0, { holder: "r" })).rejects.toMatchObject({
        code: "invalid_transition",
        details: { state: "unresolved" },
      });
      await expect(store.locks.acquire("01jz0000000000000000000000", 1, { holder: "r" })).rejects.toMatchObject({
        code: "not_found",
      });

      const session = await store.openSession();
      const { loop } = await store.loops.create(loopRequest({ concurrencyKey: "run" }));
      // The queued loop came first: claim both, then find ours.
      await store.claims.claimNext(session);
      await store.claims.claimNext(session);
      expect((await store.loops.getOrThrow(loop.id)).loop.status.attempt).toBe(1);
      for (const attempt of [0, 2]) {
        await expect(store.locks.acquire(loop.id, attempt, { holder: "r" })).rejects.toMatchObject({
          code: "stale_attempt",
          details: { field: "attempt", attempt, currentAttempt: 1 },
        });
      }
      expect(await store.locks.inspect(loop.id)).toEqual({
        alive: false,
        lock: undefined,
        lockRevision: undefined,
        heartbeat: undefined,
      });
      await store.locks.acquire(loop.id, 1, { holder: "r" });
      expect((await store.locks.inspect(loop.id)).alive).toBe(true);
      await session.close();
    } finally {
      store.close();
    }
  });

  test("the same holder re-acquiring is idempotent and keeps its fence; another holder is refused while the lock lives", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const clock = manualClock();
    const store = testStore(etcdEndpoint, prefix, { now: clock.now });
    try {
      const session = await store.openSession();
      const id = await runningLoop(store, session);
      const first = await store.locks.acquire(id, 1, { holder: "replica-a" });
      expect(first.expiresAt).toBe(new Date(clock.now().getTime() + DEFAULT_LOCK_TTL_MS).toISOString());
      const taken = await store.locks.inspect(id);
      expect(taken).toMatchObject({
        alive: true,
        lock: { loopId: id, attempt: 1, holder: "replica-a", acquiredAt: clock.now().toISOString() },
        heartbeat: { attempt: 1, at: clock.now().toISOString(), expiresAt: first.expiresAt },
      });
      const fence = await store.locks.fence(id, 1);

      clock.advance(5_000);
      const again = await store.locks.acquire(id, 1, { holder: "replica-a" });
      expect(Date.parse(again.expiresAt)).toBe(Date.parse(first.expiresAt) + 5_000);
      const after = await store.locks.inspect(id);
      expect(after.lockRevision).toBe(taken.lockRevision);
      expect(after.lock).toEqual(taken.lock);
      // The fence taken before the re-acquire still holds.
      await store.journal.append(id, [entry("still mine")], { fence });

      await expect(store.locks.acquire(id, 1, { holder: "replica-b" })).rejects.toMatchObject({
        code: "conflict",
        details: { field: "holder" },
      });
      expect((await store.locks.inspect(id)).lock?.holder).toBe("replica-a");
      await store.journal.append(id, [entry("still mine after b was refused")], { fence });

      // Once the lock has expired, another holder of the attempt may take it over; the old fence fails.
      clock.advance(DEFAULT_LOCK_TTL_MS + 1);
      expect((await store.locks.inspect(id)).alive).toBe(false);
      await store.locks.acquire(id, 1, { holder: "replica-b" });
      expect((await store.locks.inspect(id)).lock?.holder).toBe("replica-b");
      await expect(store.journal.append(id, [entry("late from a")], { fence })).rejects.toMatchObject({
        code: "stale_attempt",
      });
      expect((await store.journal.list(id)).entries.map((e) => e.message)).toEqual([
        "still mine",
        "still mine after b was refused",
      ]);
      await session.close();
    } finally {
      store.close();
    }
  });

  test("a heartbeat extends the expiry: alive only until ttl passes without one", async ({ etcdEndpoint, prefix }) => {
    const clock = manualClock();
    const store = testStore(etcdEndpoint, prefix, { now: clock.now });
    try {
      const session = await store.openSession();
      const id = await runningLoop(store, session);
      const ttlMs = 10_000;
      await store.locks.acquire(id, 1, { holder: "r", ttlMs });
      const revision = (await store.locks.inspect(id)).lockRevision;

      clock.advance(9_000);
      expect((await store.locks.inspect(id)).alive).toBe(true);
      const beat = await store.locks.heartbeat(id, 1, { ttlMs });
      expect(beat.expiresAt).toBe(new Date(clock.now().getTime() + ttlMs).toISOString());
      clock.advance(9_000);
      // 18 s after the lock was taken, longer than its ttl: the heartbeat kept it alive.
      const state = await store.locks.inspect(id);
      expect(state).toMatchObject({ alive: true, heartbeat: { attempt: 1, expiresAt: beat.expiresAt } });
      // Heartbeats never touch the lock key, so fences taken before them still hold.
      expect(state.lockRevision).toBe(revision);

      clock.advance(1_001);
      expect((await store.locks.inspect(id)).alive).toBe(false);
      // A heartbeat from the owner brings it back; the default ttl applies without one given.
      const late = await store.locks.heartbeat(id, 1);
      expect(late.expiresAt).toBe(new Date(clock.now().getTime() + DEFAULT_LOCK_TTL_MS).toISOString());
      expect((await store.locks.inspect(id)).alive).toBe(true);

      for (const attempt of [0, 2]) {
        await expect(store.locks.heartbeat(id, attempt)).rejects.toMatchObject({
          code: "stale_attempt",
          details: { field: "attempt" },
        });
      }
      await session.close();
    } finally {
      store.close();
    }
  });

  test("release by the owning attempt only; then fences, heartbeats of that attempt fail", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const session = await store.openSession();
      const id = await runningLoop(store, session);
      await store.locks.acquire(id, 1, { holder: "r" });
      const fence = await store.locks.fence(id, 1);

      await store.locks.release(id, 2);
      await store.locks.release(id, 0);
      expect(await store.locks.inspect(id)).toMatchObject({ alive: true, lock: { attempt: 1 } });

      await store.locks.release(id, 1);
      expect(await store.locks.inspect(id)).toEqual({
        alive: false,
        lock: undefined,
        lockRevision: undefined,
        heartbeat: undefined,
      });
      // Releasing twice is harmless.
      await store.locks.release(id, 1);
      await expect(store.locks.fence(id, 1)).rejects.toMatchObject({ code: "stale_attempt" });
      await expect(store.locks.heartbeat(id, 1)).rejects.toMatchObject({ code: "stale_attempt" });
      await expect(store.journal.append(id, [entry("after release")], { fence })).rejects.toMatchObject({
        code: "stale_attempt",
      });
      await session.close();
    } finally {
      store.close();
    }
  });

  test("a transition out of running deletes the lock and heartbeat with it: the attempt's fences fail", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const session = await store.openSession();
      const id = await runningLoop(store, session);
      await store.locks.acquire(id, 1, { holder: "r" });
      const fence = await store.locks.fence(id, 1);
      await store.journal.append(id, [entry("working")], { fence });

      await store.loops.transition(id, { type: "cancelRequested", reason: "stop", at: new Date().toISOString() });
      expect(await store.client.get(store.keys.lock(id)).exists()).toBe(false);
      expect(await store.client.get(store.keys.heartbeat(id)).exists()).toBe(false);
      expect((await store.locks.inspect(id)).alive).toBe(false);

      await expect(store.journal.append(id, [entry("after cancel")], { fence })).rejects.toMatchObject({
        code: "stale_attempt",
      });
      await expect(store.handoffs.put(id, 1, { validation: { state: "not-run" } }, fence)).rejects.toMatchObject({
        code: "stale_attempt",
      });
      await expect(store.locks.heartbeat(id, 1)).rejects.toMatchObject({ code: "stale_attempt" });
      await expect(store.locks.fence(id, 1)).rejects.toMatchObject({ code: "stale_attempt" });
      await expect(store.locks.acquire(id, 1, { holder: "r" })).rejects.toMatchObject({ code: "invalid_transition" });
      expect((await store.journal.list(id)).entries.map((e) => e.message)).toEqual(["working"]);
      expect(await store.handoffs.list(id)).toEqual([]);
      await session.close();
    } finally {
      store.close();
    }
  });
});
