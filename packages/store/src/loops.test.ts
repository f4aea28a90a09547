import { LIMITS, SmithError, isSmithError } from "@smith/core";
import { etcdTest as test, gatewayGet, gatewayPut } from "@smith/testing";
import { describe, expect } from "vitest";
import { loopRequest, testStore } from "./testSupport.ts";

describe("loops", () => {
  test("create writes the loop and its queue key in one txn; get reads it back", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop, created, revision } = await store.loops.create(loopRequest({ priority: 7 }));
      expect(created).toBe(true);
      expect(loop.status).toMatchObject({
        state: "unresolved",
        reason: "queued",
        attempt: 0,
        progress: { done: 1, total: 2 },
      });
      expect(loop.concurrencyKey).toBe("example.com_acme_app");
      const got = await store.loops.getOrThrow(loop.id);
      expect(got.loop).toEqual(loop);
      expect(got.revision).toBe(revision);
      expect(loop.status.queueKey).toBe(store.keys.queue(7, Date.parse(loop.status.createdAt), loop.id));
      expect(await gatewayGet(etcdEndpoint, loop.status.queueKey ?? "")).toContain(loop.id);
    } finally {
      store.close();
    }
  });

  test("an idempotency key returns the existing loop with created: false", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const first = await store.loops.create(loopRequest({ idempotencyKey: "issue/42" }));
      const second = await store.loops.create(loopRequest({ idempotencyKey: "issue/42", priority: 900 }));
      expect(second.created).toBe(false);
      expect(second.loop.id).toBe(first.loop.id);
      expect((await store.loops.list()).items).toHaveLength(1);
    } finally {
      store.close();
    }
  });

  test("concurrent creates with one idempotency key make exactly one loop", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.loops.create(loopRequest({ idempotencyKey: "k" }))),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.loop.id)).size).toBe(1);
    } finally {
      store.close();
    }
  });

  test("createBatch: per-item results; one invalid item rejects the batch and writes nothing", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const results = await store.loops.createBatch([
        loopRequest(),
        loopRequest({ idempotencyKey: "x" }),
        loopRequest({ idempotencyKey: "x" }),
      ]);
      expect(results.map((r) => r.ok && r.created)).toEqual([true, expect.any(Boolean), expect.any(Boolean)]);
      expect(results.filter((r) => r.ok && r.created)).toHaveLength(2);

      const bad = [loopRequest(), { ...loopRequest(), priority: 5000 }];
      const err = await store.loops.createBatch(bad).catch((e: unknown) => e);
      expect(isSmithError(err, "invalid_argument")).toBe(true);
      expect((err as SmithError).details.field).toBe("items[1].priority");
      expect((await store.loops.list()).items).toHaveLength(2);

      const tooMany = Array.from({ length: LIMITS.batchLoops + 1 }, () => loopRequest());
      const err2 = await store.loops.createBatch(tooMany).catch((e: unknown) => e);
      expect(err2).toMatchObject({ code: "too_large", details: { field: "items", limit: 100, actual: 101 } });
      expect((await store.loops.list()).items).toHaveLength(2);
    } finally {
      store.close();
    }
  });

  test("an oversized PRD is a typed error naming the limit, and nothing is written", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const content = JSON.stringify({ project: "x", stories: [], pad: "x".repeat(LIMITS.prdBytes) });
      const req = loopRequest();
      const err = await store.loops
        .create({ ...req, spec: { ...req.spec, prd: { kind: "inline", content } } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SmithError);
      expect(err).toMatchObject({ code: "too_large", details: { field: "spec.prd.content", limit: 512 * 1024 } });
      expect((err as Error).message).toContain("524288");
      expect((await store.loops.list()).items).toHaveLength(0);
      expect(await store.client.getAll().prefix(prefix).count()).toBe(0);
    } finally {
      store.close();
    }
  });

  test("a value with an unknown schemaVersion is a typed error, not a crash", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop } = await store.loops.create(loopRequest());
      await gatewayPut(etcdEndpoint, store.keys.loop(loop.id), JSON.stringify({ ...loop, schemaVersion: 99 }));
      const err = await store.loops.get(loop.id).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: "unsupported_schema_version",
        details: { field: store.keys.loop(loop.id), version: 99 },
      });
      await expect(
        store.loops.transition(loop.id, { type: "cancelRequested", reason: "r", at: new Date().toISOString() }),
      ).rejects.toMatchObject({
        code: "unsupported_schema_version",
      });
      // Nothing was changed by the refused transition.
      expect(JSON.parse((await gatewayGet(etcdEndpoint, store.keys.loop(loop.id))) ?? "{}").schemaVersion).toBe(99);
    } finally {
      store.close();
    }
  });

  test("list filters by state, repo and source with stable cursor pagination in both orders", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        const repo = i % 2 === 0 ? "https://example.com/a.git" : "https://example.com/b.git";
        const { loop } = await store.loops.create(
          loopRequest(
            { source: i % 5 === 0 ? { type: "github_issue", ref: `acme/a#${i + 1}` } : { type: "direct" } },
            repo,
          ),
        );
        ids.push(loop.id);
        if (i % 3 === 0)
          await store.loops.transition(loop.id, {
            type: "cancelRequested",
            reason: "test",
            at: new Date().toISOString(),
          });
      }
      const pages: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.loops.list({ limit: 4, cursor });
        pages.push(...page.items.map((l) => l.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(pages).toEqual(ids);

      const desc: string[] = [];
      cursor = undefined;
      do {
        const page = await store.loops.list({ limit: 7, cursor, order: "desc" });
        desc.push(...page.items.map((l) => l.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(desc).toEqual([...ids].reverse());

      const cancelled = await store.loops.list({ state: "cancelled", limit: 500 });
      expect(cancelled.items.map((l) => l.id)).toEqual(ids.filter((_, i) => i % 3 === 0));
      const repoA = await store.loops.list({ repo: "https://example.com/a.git", state: ["unresolved"], limit: 500 });
      expect(repoA.items.map((l) => l.id)).toEqual(ids.filter((_, i) => i % 2 === 0 && i % 3 !== 0));
      const issues = await store.loops.list({ source: "github_issue", limit: 500 });
      expect(issues.items.map((l) => l.id)).toEqual(ids.filter((_, i) => i % 5 === 0));
    } finally {
      store.close();
    }
  });

  test("lost race: two transitions from the same revision, one wins and the other gets CONFLICT", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const a = testStore(etcdEndpoint, prefix);
    const b = testStore(etcdEndpoint, prefix);
    try {
      const { loop, revision } = await a.loops.create(loopRequest());
      const at = new Date().toISOString();
      const results = await Promise.allSettled([
        a.loops.transition(loop.id, { type: "cancelRequested", reason: "a", at }, { expectedRevision: revision }),
        b.loops.transition(loop.id, { type: "timedOut", at }, { expectedRevision: revision }),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]?.reason).toMatchObject({ code: "conflict", recoverable: true });
      const final = await a.loops.getOrThrow(loop.id);
      expect(["cancelled", "flatline"]).toContain(final.loop.status.state);
      // The loop left unresolved, so its queue key is gone with it.
      expect(await a.client.getAll().prefix(a.keys.queuePrefix()).count()).toBe(0);
    } finally {
      a.close();
      b.close();
    }
  });

  test("an invalid transition is a typed error and changes nothing", async ({ etcdEndpoint, prefix }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const { loop, revision } = await store.loops.create(loopRequest());
      await expect(
        store.loops.transition(loop.id, {
          type: "finalized",
          attempt: 0,
          outcome: "synced",
          reason: "all-stories-passed",
          at: new Date().toISOString(),
        }),
      ).rejects.toMatchObject({ code: "invalid_transition" });
      expect((await store.loops.getOrThrow(loop.id)).revision).toBe(revision);
      await expect(
        store.loops.transition("01jz0000000000000000000000", { type: "timedOut", at: new Date().toISOString() }),
      ).rejects.toMatchObject({
        code: "not_found",
      });
    } finally {
      store.close();
    }
  });

  test("watch delivers changes from a revision, including ones made before it started", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = testStore(etcdEndpoint, prefix);
    try {
      const start = await store.loops.list();
      const { loop } = await store.loops.create(loopRequest());
      await store.loops.transition(loop.id, { type: "cancelRequested", reason: "stop", at: new Date().toISOString() });
      const watch = store.loops.watch({ fromRevision: String(Number(start.revision) + 1) });
      const seen: string[] = [];
      for await (const change of watch) {
        if (change.type === "put") seen.push(change.loop.status.state);
        if (seen.length === 2) break;
      }
      expect(seen).toEqual(["unresolved", "cancelled"]);
    } finally {
      store.close();
    }
  });
});
