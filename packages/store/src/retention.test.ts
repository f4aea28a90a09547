import type { LoopState } from "@smith/core";
import { etcdTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import type { SmithStore } from "./store.ts";
import { loopRequest, testStore } from "./testSupport.ts";

const DAY = 86_400_000;
const by = {
  actor: { type: "operator" as const, id: "alice", role: "admin" },
  action: "loops.cleanup",
  correlationId: "c1",
};

/** A loop finished (or left active) in `state` at the store's current time. */
async function loopIn(store: SmithStore, state: LoopState): Promise<string> {
  const { loop } = await store.loops.create(loopRequest());
  await store.journal.append(loop.id, [{ phase: "lifecycle", actor: by.actor, message: "created" }]);
  if (state === "cancelled")
    await store.loops.transition(loop.id, { type: "cancelRequested", reason: "test", at: new Date().toISOString() });
  else if (state === "synced" || state === "flatline") {
    // Forced through flatline: the only way to synced without a replica.
    await store.overrides.force(loop.id, "flatline", "test", by.actor);
    if (state === "synced") await store.overrides.force(loop.id, "synced", "test", by.actor);
  }
  return loop.id;
}

describe("retention", () => {
  test("per-state windows, a dry run that deletes nothing, then a capped pass; each deletion audited", async ({
    etcdEndpoint,
    prefix,
  }) => {
    let now = Date.parse("2026-03-10T12:00:00.000Z");
    const store = testStore(etcdEndpoint, prefix, { now: () => new Date(now) });
    try {
      // The oldest first: a capped pass stops where the cap is reached.
      const unresolved = await loopIn(store, "unresolved");
      const synced = [await loopIn(store, "synced"), await loopIn(store, "synced"), await loopIn(store, "synced")];
      const flatline = await loopIn(store, "flatline");
      const cancelled = await loopIn(store, "cancelled");
      now += 8 * DAY;
      const policy = { windows: { synced: 7 * DAY, flatline: 30 * DAY, unresolved: DAY }, maxPerPass: 2 };

      const dry = await store.retention.sweep(policy, by, { dryRun: true });
      expect(dry).toMatchObject({ dryRun: true, capped: true });
      expect(dry.deleted.map((d) => d.id)).toEqual(synced.slice(0, 2));
      expect(dry.skipped).toEqual([
        expect.objectContaining({ id: unresolved, state: "unresolved", why: "unresolved is active: cancel it first" }),
      ]);
      for (const id of synced) expect(await store.loops.get(id)).toBeDefined();

      const first = await store.retention.sweep(policy, by);
      expect(first.deleted.map((d) => d.id)).toEqual(synced.slice(0, 2));
      expect(first.capped).toBe(true);
      const second = await store.retention.sweep(policy, by);
      expect(second.deleted.map((d) => d.id)).toEqual([synced[2]]);
      expect(second.capped).toBe(false);
      // flatline's window is longer, cancelled has none, the active loop is never deleted.
      for (const id of [flatline, cancelled, unresolved]) expect(await store.loops.get(id)).toBeDefined();
      for (const id of synced) {
        expect(await store.loops.get(id)).toBeUndefined();
        expect(await store.client.getAll().prefix(store.keys.journalPrefix(id)).count()).toBe(0);
      }
      const events = (await store.audit.list()).items.filter((e) => e.action === "loops.cleanup");
      // Deletions are audited; the skipped active loop is in the report, not the audit log.
      expect(events.map((e) => [e.loopId, e.outcome])).toEqual([
        [synced[0], "ok"],
        [synced[1], "ok"],
        [synced[2], "ok"],
      ]);
      expect(events[0]?.details).toMatchObject({ state: "synced", finishedAt: expect.any(String) });
    } finally {
      store.close();
    }
  });

  test("audit events of whole days before the window go, capped, with one event saying so", async ({
    etcdEndpoint,
    prefix,
  }) => {
    let now = Date.parse("2026-03-01T10:00:00.000Z");
    const store = testStore(etcdEndpoint, prefix, { now: () => new Date(now) });
    try {
      for (let i = 0; i < 3; i++) await store.audit.append({ ...by, action: `old.${i}` });
      now += 2 * DAY;
      await store.audit.append({ ...by, action: "recent" });
      now += DAY;
      const policy = { windows: {}, auditMs: 2 * DAY, maxPerPass: 2 };
      const dry = await store.retention.sweep(policy, by, { dryRun: true });
      expect(dry.audit).toEqual({ deleted: 2, before: "2026-03-02T00:00:00.000Z", capped: true });
      expect((await store.audit.list()).items).toHaveLength(4);

      expect((await store.retention.sweep(policy, by)).audit).toMatchObject({ deleted: 2, capped: true });
      expect((await store.retention.sweep(policy, by)).audit).toMatchObject({ deleted: 1, capped: false });
      const left = (await store.audit.list()).items;
      expect(left.map((e) => e.action)).toEqual(["recent", "loops.cleanup.audit", "loops.cleanup.audit"]);
      expect(left[1]?.details).toEqual({ deleted: 2, before: "2026-03-02T00:00:00.000Z" });
    } finally {
      store.close();
    }
  });

  test("deleteLoops: finished ones go with an audit event, active and unknown ones are reported", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const done = await loopIn(store, "cancelled");
      const live = await loopIn(store, "unresolved");
      const unknown = "01jz0000000000000000000000";
      const results = await store.retention.deleteLoops([done, live, unknown, done], { ...by, action: "loops.delete" });
      expect(results).toEqual([
        { id: done, outcome: "deleted", state: "cancelled" },
        { id: live, outcome: "skipped", state: "unresolved", why: "unresolved is active: cancel it first" },
        { id: unknown, outcome: "not_found" },
      ]);
      expect(await store.loops.get(done)).toBeUndefined();
      expect(await store.loops.get(live)).toBeDefined();
      const events = (await store.audit.list()).items.filter((e) => e.action === "loops.delete");
      expect(events.map((e) => [e.loopId, e.outcome, e.error])).toEqual([
        [done, "ok", undefined],
        [live, "error", "active"],
      ]);
    } finally {
      store.close();
    }
  });
});
