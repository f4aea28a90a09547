import {
  FORCE_TABLE,
  LIMITS,
  LOOP_STATES,
  type Actor,
  type AuditEvent,
  type AuditEventRequest,
  type HandoffInput,
} from "@smith/core";
import { etcdTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import type { AuditListOptions } from "./records.ts";
import type { SmithStore } from "./store.ts";
import { loopRequest, testStore } from "./testSupport.ts";

const UNKNOWN_LOOP = "01jz0000000000000000000000";
const operator: Actor = { type: "operator", id: "alice" };

const handoff = (
  done: string[],
  state: "passed" | "failed" | "not-run" = "passed",
): Partial<HandoffInput> & Pick<HandoffInput, "validation"> => ({
  done,
  remaining: ["US-002"],
  validation: { state, details: "npm test" },
});

/** Every page of an audit listing, following nextCursor. */
async function allPages(store: SmithStore, options: AuditListOptions): Promise<{ pages: number; items: AuditEvent[] }> {
  const items: AuditEvent[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.audit.list({ ...options, cursor });
    expect(page.items.length).toBeLessThanOrEqual(options.limit ?? 100);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 100);
  return { pages, items };
}

describe("handoffs", () => {
  test("put, list and latest over several attempts; writing an attempt again replaces it", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      expect(await store.handoffs.list(loop.id)).toEqual([]);
      expect(await store.handoffs.latest(loop.id)).toBeUndefined();
      // Attempt 10 sorts after 9 and 2: the key carries a zero-padded attempt.
      for (const attempt of [2, 1, 10, 9])
        await store.handoffs.put(loop.id, attempt, handoff([`from attempt ${attempt}`]));
      const replaced = await store.handoffs.put(loop.id, 9, handoff(["US-001", "rewritten"], "failed"));
      expect(replaced).toMatchObject({
        loopId: loop.id,
        attempt: 9,
        done: ["US-001", "rewritten"],
        validation: { state: "failed" },
      });
      // Defaults are filled in by the schema.
      expect(replaced).toMatchObject({
        decisions: [],
        uncertain: [],
        nextSteps: [],
        artifactRefs: [],
        diffSummary: "",
      });

      const all = await store.handoffs.list(loop.id);
      expect(all.map((h) => h.attempt)).toEqual([1, 2, 9, 10]);
      expect(all.find((h) => h.attempt === 9)).toEqual(replaced);
      expect((await store.handoffs.latest(loop.id))?.done).toEqual(["from attempt 10"]);
      // Another loop's handoffs are its own.
      const { loop: other } = await store.loops.create(loopRequest());
      expect(await store.handoffs.list(other.id)).toEqual([]);
    } finally {
      store.close();
    }
  });

  test("a fenced put from a stale attempt is refused and changes nothing", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      const session = await store.openSession();
      expect((await store.claims.claimNext(session))?.loop.status.attempt).toBe(1);
      await store.locks.acquire(loop.id, 1, { holder: "replica-1" });
      const fence1 = await store.locks.fence(loop.id, 1);
      await store.handoffs.put(loop.id, 1, handoff(["first"]), fence1);

      await store.loops.transition(loop.id, { type: "replicaLost", attempt: 1, at: new Date().toISOString() });
      expect((await store.claims.claimNext(session))?.loop.status.attempt).toBe(2);
      await store.locks.acquire(loop.id, 2, { holder: "replica-2" });
      await store.handoffs.put(loop.id, 2, handoff(["second"]), await store.locks.fence(loop.id, 2));

      // Attempt 1 comes back late with its old fence: neither its own handoff nor attempt 2's moves.
      await expect(store.handoffs.put(loop.id, 1, handoff(["late"]), fence1)).rejects.toMatchObject({
        code: "stale_attempt",
        details: { field: "attempt" },
      });
      await expect(store.handoffs.put(loop.id, 2, handoff(["late"]), fence1)).rejects.toMatchObject({
        code: "stale_attempt",
      });
      expect((await store.handoffs.list(loop.id)).map((h) => [h.attempt, h.done])).toEqual([
        [1, ["first"]],
        [2, ["second"]],
      ]);
      await session.close();
    } finally {
      store.close();
    }
  });

  test("bad input: oversized, invalid, unknown loop — typed errors, nothing written", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      // Each line is within its own bound (8 KiB); together they exceed the document's.
      const lines = Array.from({ length: 40 }, (_, i) => `${i}:`.padEnd(8000, "x"));
      const err = await store.handoffs.put(loop.id, 1, { ...handoff([]), decisions: lines }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "too_large", details: { field: "handoff", limit: LIMITS.handoffBytes } });
      expect((err as Error).message).toContain(String(LIMITS.handoffBytes));

      await expect(
        store.handoffs.put(loop.id, 1, { validation: { state: "maybe" as "passed" } }),
      ).rejects.toMatchObject({
        code: "invalid_argument",
        details: { field: "handoff.validation.state" },
      });
      await expect(store.handoffs.put(UNKNOWN_LOOP, 1, handoff(["x"]))).rejects.toMatchObject({
        code: "not_found",
        details: { field: "loopId" },
      });
      // Regression: attempt 0 was written, and then every list() of the loop failed its schema.
      for (const attempt of [0, -1, 1.5]) {
        await expect(store.handoffs.put(loop.id, attempt, handoff(["x"]))).rejects.toMatchObject({
          code: "invalid_argument",
          details: { field: "attempt" },
        });
      }

      expect(await store.handoffs.list(loop.id)).toEqual([]);
      expect(await store.client.getAll().prefix(store.keys.handoffsPrefix(UNKNOWN_LOOP)).count()).toBe(0);
    } finally {
      store.close();
    }
  });
});

describe("overrides", () => {
  test("force follows FORCE_TABLE: a refused force writes neither the loop nor an override record", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop, revision } = await store.loops.create(loopRequest());
      const refused = LOOP_STATES.filter((to) => !FORCE_TABLE.unresolved.includes(to));
      expect(refused).toEqual(expect.arrayContaining(["synced", "running"]));
      for (const to of refused) {
        await expect(store.overrides.force(loop.id, to, "because", operator)).rejects.toMatchObject({
          code: "invalid_transition",
          details: { from: "unresolved", event: "forceState" },
        });
      }
      expect((await store.loops.getOrThrow(loop.id)).revision).toBe(revision);
      expect(await store.overrides.list(loop.id)).toEqual([]);
      expect(await store.client.getAll().prefix(store.keys.overridesPrefix(loop.id)).count()).toBe(0);
      await expect(store.overrides.force(UNKNOWN_LOOP, "flatline", "because", operator)).rejects.toMatchObject({
        code: "not_found",
      });
    } finally {
      store.close();
    }
  });

  test("the override record and the loop change are one write; seq increments", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      const first = await store.overrides.force(loop.id, "flatline", "  stuck on a flaky gate  ", operator, {
        correlationId: "corr-1",
      });
      expect(first.loop.loop.status).toMatchObject({
        state: "flatline",
        reason: "operator-override",
        message: "stuck on a flaky gate",
      });
      expect(first.override).toMatchObject({
        loopId: loop.id,
        seq: 1,
        actor: operator,
        from: "unresolved",
        to: "flatline",
        reason: "stuck on a flaky gate",
        reasonCode: "operator-override",
        correlationId: "corr-1",
      });
      // Written in the loop's txn: the override key carries the loop's new revision.
      const overrideKv = (await store.client.get(store.keys.override(loop.id, 1)).exec()).kvs[0];
      expect(overrideKv?.mod_revision).toBe(first.loop.revision);
      // Leaving unresolved dequeued the loop in the same write.
      expect(await store.client.getAll().prefix(store.keys.queuePrefix()).count()).toBe(0);

      const second = await store.overrides.force(loop.id, "unresolved", "fixed the gate", operator);
      expect(second.override).toMatchObject({ seq: 2, from: "flatline", to: "unresolved", correlationId: "" });
      expect(second.loop.loop.status.queueKey).toBeDefined();
      const third = await store.overrides.force(loop.id, "cancelled", "not needed after all", operator, {
        expectedRevision: second.loop.revision,
      });
      expect(third.override.seq).toBe(3);
      expect(await store.overrides.list(loop.id)).toEqual([first.override, second.override, third.override]);

      // cancelled is final: even an operator cannot force it anywhere.
      await expect(store.overrides.force(loop.id, "unresolved", "undo", operator)).rejects.toMatchObject({
        code: "invalid_transition",
      });
      expect(await store.overrides.list(loop.id)).toHaveLength(3);
    } finally {
      store.close();
    }
  });

  test("a blank reason or a stale expectedRevision is refused and writes nothing", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop, revision } = await store.loops.create(loopRequest());
      for (const reason of ["", "   "]) {
        await expect(store.overrides.force(loop.id, "cancelled", reason, operator)).rejects.toMatchObject({
          code: "invalid_argument",
          details: { field: "reason" },
        });
      }
      await expect(
        store.overrides.force(loop.id, "cancelled", "x".repeat(LIMITS.reasonBytes + 1), operator),
      ).rejects.toMatchObject({
        code: "invalid_argument",
        details: { field: "reason" },
      });
      await store.loops.update(loop.id, (l) => ({ ...l, labels: { touched: "yes" } }));
      await expect(
        store.overrides.force(loop.id, "cancelled", "too late", operator, { expectedRevision: revision }),
      ).rejects.toMatchObject({
        code: "conflict",
        details: { expectedRevision: revision },
      });
      expect((await store.loops.getOrThrow(loop.id)).loop.status.state).toBe("unresolved");
      expect(await store.overrides.list(loop.id)).toEqual([]);
    } finally {
      store.close();
    }
  });
});

describe("audit", () => {
  const event = (action: string, extra: Partial<AuditEventRequest> = {}): AuditEventRequest => ({
    actor: { type: "operator", id: "alice", role: "admin" },
    action,
    correlationId: `c-${action}`,
    ...extra,
  });

  test("append and list by loop, paginated with a cursor, in time order", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop: a } = await store.loops.create(loopRequest());
      const { loop: b } = await store.loops.create(loopRequest());
      const written: AuditEvent[] = [];
      for (let i = 0; i < 7; i++) {
        written.push(await store.audit.append(event(`a${i}`, { loopId: a.id, reason: `r${i}` })));
        await store.audit.append(event(`b${i}`, { loopId: b.id, outcome: "denied", error: "FORBIDDEN" }));
      }
      await store.audit.append(event("tokens.create"));
      expect(written[0]).toMatchObject({
        loopId: a.id,
        action: "a0",
        outcome: "ok",
        details: {},
        reason: "r0",
        correlationId: "c-a0",
      });

      const paged = await allPages(store, { loopId: a.id, limit: 3 });
      expect(paged.items).toEqual(written);
      expect(paged.pages).toBeGreaterThanOrEqual(3);
      expect((await store.audit.list({ loopId: b.id })).items.map((e) => [e.action, e.outcome, e.error])).toEqual(
        Array.from({ length: 7 }, (_, i) => [`b${i}`, "denied", "FORBIDDEN"]),
      );
      expect((await store.audit.list({ loopId: UNKNOWN_LOOP })).items).toEqual([]);
      // Without a loop: every event, the one with no loop too.
      expect((await allPages(store, { limit: 4 })).items).toHaveLength(15);
    } finally {
      store.close();
    }
  });

  test("events spread over several days: day-keyed range reads with from/to, paged across days in time order", async ({
    etcdEndpoint,
    prefix,
  }) => {
    // Across a month end and a leap day; hours chosen so that ranges cut days in the middle.
    const days = ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02"];
    const hours = ["00:00:00.000", "09:30:00.000", "23:59:59.999"];
    let now = new Date("2024-02-27T00:00:00.000Z");
    const store = testStore(etcdEndpoint, prefix, { now: () => now });
    try {
      const { loop } = await store.loops.create(loopRequest());
      const written: AuditEvent[] = [];
      for (const day of days) {
        for (const hour of hours) {
          now = new Date(`${day}T${hour}Z`);
          written.push(await store.audit.append(event(`${day} ${hour}`, { loopId: loop.id })));
        }
      }
      expect(written.map((e) => e.at)).toEqual(days.flatMap((d) => hours.map((h) => `${d}T${h}Z`)));
      // The key names the event's UTC day.
      const leapKeys = await store.client.getAll().prefix(`${store.keys.auditPrefix()}2024/02/29/`).keys();
      expect(leapKeys).toHaveLength(3);

      const everything = await allPages(store, { limit: 2 });
      expect(everything.items).toEqual(written);
      expect(everything.pages).toBeGreaterThanOrEqual(8);

      const inRange = (from?: string, to?: string) =>
        written.filter((e) => (from === undefined || e.at >= from) && (to === undefined || e.at < to));
      const ranges: [string | undefined, string | undefined][] = [
        ["2024-02-28T09:30:00.000Z", "2024-03-01T23:59:59.999Z"],
        ["2024-02-28T12:00:00.000Z", "2024-03-01T00:00:00.000Z"],
        ["2024-02-29T00:00:00.000Z", "2024-03-01T00:00:00.000Z"],
        ["2024-02-29T10:00:00.000Z", "2024-02-29T11:00:00.000Z"],
        ["2024-03-01T00:00:00.000Z", undefined],
        [undefined, "2024-02-28T00:00:00.000Z"],
        ["2023-12-31T00:00:00.000Z", "2025-01-01T00:00:00.000Z"],
      ];
      for (const [from, to] of ranges) {
        for (const limit of [1, 2, 4, 100]) {
          const got = await allPages(store, { from, to, limit });
          expect(got.items, `from ${from} to ${to}, limit ${limit}`).toEqual(inRange(from, to));
        }
        // The per-loop index takes the same range.
        expect((await allPages(store, { loopId: loop.id, from, to, limit: 2 })).items).toEqual(inRange(from, to));
      }
    } finally {
      store.close();
    }
  });

  test("regression: paging by time skipped events after the clock stepped back (ids are later than their day keys)", async ({
    etcdEndpoint,
    prefix,
  }) => {
    let now = new Date("2024-03-05T12:00:00.000Z");
    const store = testStore(etcdEndpoint, prefix, { now: () => now });
    try {
      const later = await store.audit.append(event("before the step"));
      const earlier: AuditEvent[] = [];
      for (const at of ["2024-03-01T10:00:00.000Z", "2024-03-01T11:00:00.000Z", "2024-03-02T10:00:00.000Z"]) {
        now = new Date(at);
        earlier.push(await store.audit.append(event(at)));
      }
      // The ids stay monotonic, so they no longer tell the day their events are keyed under.
      expect(earlier.every((e) => e.id > later.id)).toBe(true);
      for (const limit of [1, 2]) {
        expect((await allPages(store, { limit })).items).toEqual([...earlier, later]);
        expect((await allPages(store, { limit, from: "2024-03-01T10:30:00.000Z" })).items).toEqual([
          ...earlier.slice(1),
          later,
        ]);
      }
    } finally {
      store.close();
    }
  });

  test("invalid audit input is invalid_argument naming the field, and nothing is written", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      await expect(store.audit.append(event(""))).rejects.toMatchObject({
        code: "invalid_argument",
        details: { field: "audit.action" },
      });
      await expect(store.audit.append(event("x", { loopId: "../../etc" }))).rejects.toMatchObject({
        code: "invalid_argument",
        details: { field: "audit.loopId" },
      });
      await expect(store.audit.append(event("x", { outcome: "maybe" as "ok" }))).rejects.toMatchObject({
        code: "invalid_argument",
        details: { field: "audit.outcome" },
      });
      await expect(
        store.audit.append({ actor: { type: "operator", id: "" }, action: "x", correlationId: "c" }),
      ).rejects.toMatchObject({
        code: "invalid_argument",
        details: { field: "audit.actor.id" },
      });
      await expect(
        store.audit.append(event("x", { reason: "r".repeat(LIMITS.reasonBytes + 1) })),
      ).rejects.toMatchObject({
        code: "invalid_argument",
        details: { field: "audit.reason" },
      });
      await expect(
        store.audit.append(event("x", { details: { blob: "x".repeat(LIMITS.journalEntryBytes) } })),
      ).rejects.toMatchObject({
        code: "too_large",
        details: { field: "audit", limit: LIMITS.journalEntryBytes },
      });
      for (const range of [{ from: "yesterday" }, { to: "not a time" }]) {
        await expect(store.audit.list(range)).rejects.toMatchObject({
          code: "invalid_argument",
          details: { field: Object.keys(range)[0] },
        });
      }
      expect(await store.client.getAll().prefix(store.keys.auditPrefix()).count()).toBe(0);
      expect((await store.audit.list()).items).toEqual([]);
    } finally {
      store.close();
    }
  });
});
