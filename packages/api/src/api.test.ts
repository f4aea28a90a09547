import { TRPCClientError } from "@smith/client";
import { LIMITS } from "@smith/core";
import { captureLogs } from "@smith/logger";
import { etcdMetric } from "@smith/testing";
import { apiTest } from "./fixtures.ts";
import { describe, expect } from "vitest";
import { lockedReplica, loopInput, runLoop, startTestApi } from "./testSupport.ts";

function errorOf(err: unknown): {
  code?: string;
  smith?: { code: string; details: Record<string, unknown> };
  issues?: { path: string; message: string }[];
  message: string;
} {
  if (!(err instanceof TRPCClientError)) throw err;
  const data = err.data as
    | {
        code?: string;
        smith?: { code: string; details: Record<string, unknown> };
        issues?: { path: string; message: string }[];
      }
    | undefined;
  return { code: data?.code, smith: data?.smith, issues: data?.issues, message: err.message };
}

async function fail(p: Promise<unknown>) {
  return errorOf(
    await p.then(
      () => new Error("expected a failure"),
      (e: unknown) => e,
    ),
  );
}

describe("API", () => {
  const test = apiTest;
  test("create, get, list and an idempotent create", async ({ api }) => {
    const op = api.client(api.tokens.operator);
    const { loop, created } = await op.loops.create.mutate(loopInput({ idempotencyKey: "req-1", priority: 5 }));
    expect(created).toBe(true);
    expect(loop).toMatchObject({ priority: 5, status: { state: "unresolved", progress: { done: 0, total: 2 } } });
    const again = await op.loops.create.mutate(loopInput({ idempotencyKey: "req-1" }));
    expect(again).toMatchObject({ created: false, loop: { id: loop.id } });
    const viewer = api.client(api.tokens.viewer);
    expect((await viewer.loops.get.query({ id: loop.id })).id).toBe(loop.id);
    const list = await viewer.loops.list.query({ state: "unresolved" });
    expect(list.items.map((l) => l.id)).toEqual([loop.id]);
    const journal = await viewer.journal.list.query({ loopId: loop.id });
    expect(journal.entries[0]?.message).toMatch(/created by op/);
    const audit = await viewer.audit.list.query({ loopId: loop.id });
    expect(audit.items.map((a) => a.action)).toEqual(["loops.create", "loops.create"]);
    expect(audit.items[0]).toMatchObject({ actor: { type: "operator", role: "operator" }, outcome: "ok" });
    expect(audit.items[0]?.correlationId).toMatch(/./);
  });

  test("createBatch returns per-item results and refuses more than 100 naming the limit", async ({ api }) => {
    const op = api.client(api.tokens.operator);
    const { results } = await op.loops.createBatch.mutate({ items: [loopInput(), loopInput({ priority: 1 })] });
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    const e = await fail(op.loops.createBatch.mutate({ items: Array.from({ length: 101 }, () => loopInput()) }));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.issues?.[0]?.path).toBe("items");
    expect(e.message).toMatch(/100/);
    expect((await op.loops.list.query()).items).toHaveLength(2);
  });

  test("cancel needs a reason; cancel then steer is refused; retry from flatline", async ({ api }) => {
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    const empty = await fail(op.loops.cancel.mutate({ id: loop.id, reason: "  " }));
    expect(empty.code).toBe("BAD_REQUEST");
    expect(empty.issues?.[0]).toMatchObject({ path: "reason", message: "a reason is required" });
    expect((await op.loops.get.query({ id: loop.id })).status.state).toBe("unresolved");

    const cancelled = await op.loops.cancel.mutate({ id: loop.id, reason: "not needed" });
    expect(cancelled.status).toMatchObject({ state: "cancelled", reason: "operator-cancelled", message: "not needed" });
    const steer = await fail(op.loops.steer.mutate({ id: loop.id, message: "hi" }));
    expect(steer.code).toBe("PRECONDITION_FAILED");
    const again = await fail(op.loops.cancel.mutate({ id: loop.id, reason: "twice" }));
    expect(again).toMatchObject({ code: "PRECONDITION_FAILED", smith: { code: "invalid_transition" } });

    const { loop: second } = await op.loops.create.mutate(loopInput());
    await api
      .client(api.tokens.admin)
      .loops.override.mutate({ id: second.id, to: "flatline", reason: "testing retry" });
    const retried = await op.loops.retry.mutate({ id: second.id, reason: "try again" });
    expect(retried.status).toMatchObject({ state: "unresolved", reason: "operator-retry" });
    const overrides = await op.overrides.list.query({ loopId: second.id });
    expect(overrides).toMatchObject([{ from: "unresolved", to: "flatline", reason: "testing retry" }]);
  });

  test("a steer message is visible to replica.getSpec and can be acknowledged", async ({ api }) => {
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    const { messageId } = await op.loops.steer.mutate({ id: loop.id, message: "use the existing date helper" });
    const attempt = await runLoop(api, loop.id);
    const replica = api.client(api.replicaToken(loop.id, attempt));
    await replica.replica.acquireLock.mutate({ loopId: loop.id });
    const spec = await replica.replica.getSpec.query({ loopId: loop.id });
    expect(spec.steering).toMatchObject([{ id: messageId, message: "use the existing date helper" }]);
    expect(spec.loop.spec.prd).toMatchObject({ kind: "inline" });
    expect(await replica.replica.ackSteering.mutate({ loopId: loop.id, ids: [messageId] })).toEqual({ remaining: 0 });
    expect((await replica.replica.getSpec.query({ loopId: loop.id })).steering).toEqual([]);
    const tooLong = await fail(
      op.loops.steer.mutate({ id: loop.id, message: "x".repeat(LIMITS.steerMessageBytes + 1) }),
    );
    expect(tooLong.code).toBe("BAD_REQUEST");
    expect(tooLong.message).toMatch(/8192/);
  });

  test("a replica finalizes into waiting with a question; an answer requeues the loop with it for the next prompt", async ({
    api,
  }) => {
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    const early = await fail(op.loops.answer.mutate({ id: loop.id, answer: "too early" }));
    expect(early).toMatchObject({ code: "PRECONDITION_FAILED", smith: { code: "invalid_transition" } });
    const attempt = await runLoop(api, loop.id);
    const replica = api.client(api.replicaToken(loop.id, attempt));
    await replica.replica.acquireLock.mutate({ loopId: loop.id });
    const waiting = await replica.replica.finalize.mutate({
      loopId: loop.id,
      outcome: "waiting",
      reason: "question",
      message: "the agent asked a question",
      question: "Which API version should the client use?",
    });
    expect(waiting.status).toMatchObject({
      state: "waiting",
      reason: "question",
      question: "Which API version should the client use?",
    });
    // The slots went with the attempt (deleted in the same txn).
    expect(waiting.status.slots).toBeUndefined();
    const blank = await fail(op.loops.answer.mutate({ id: loop.id, answer: " \n " }));
    expect(blank).toMatchObject({ code: "BAD_REQUEST", smith: { code: "invalid_argument" } });
    const tooLong = await fail(
      op.loops.answer.mutate({ id: loop.id, answer: "x".repeat(LIMITS.steerMessageBytes + 1) }),
    );
    expect(tooLong.code).toBe("BAD_REQUEST");
    expect((await op.loops.get.query({ id: loop.id })).status.state).toBe("waiting");

    const answered = await op.loops.answer.mutate({ id: loop.id, answer: "v2, the v1 one is deprecated" });
    expect(answered.status).toMatchObject({ state: "unresolved", reason: "answered" });
    expect(answered.status.message).toMatch(/^answered by op/);
    expect(answered.status.question).toBeUndefined();
    expect(answered.steering).toMatchObject([
      { message: "v2, the v1 one is deprecated", question: "Which API version should the client use?" },
    ]);
    const journal = await op.journal.list.query({ loopId: loop.id });
    expect(journal.entries.at(-1)?.message).toMatch(/answered by op.*question: Which API version.*: v2, the v1/);
    const audit = await op.audit.list.query({ loopId: loop.id });
    expect(audit.items.map((a) => `${a.action}:${a.outcome}`)).toContain("loops.answer:ok");
  });

  test("a replica's full attempt: lock, heartbeat, journal, iteration, handoff, finalize", async ({ api }) => {
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    const attempt = await runLoop(api, loop.id);
    const r = api.client(api.replicaToken(loop.id, attempt));
    const lock = await r.replica.acquireLock.mutate({ loopId: loop.id });
    expect(lock).toMatchObject({ attempt: 1, heartbeatIntervalMs: 10_000 });
    expect(await r.replica.heartbeat.mutate({ loopId: loop.id })).toMatchObject({ state: "running", stop: false });
    const { seqs } = await r.replica.appendJournal.mutate({
      loopId: loop.id,
      entries: [
        { phase: "agent", actor: { type: "agent", id: "replay" }, message: "editing src/a.ts" },
        {
          phase: "gate",
          actor: { type: "operator", id: "forged" },
          message: "npm test",
          exitCode: 0,
          durationMs: 1200,
        },
      ],
    });
    expect(seqs).toHaveLength(2);
    const entries = (await op.journal.list.query({ loopId: loop.id })).entries;
    // A replica cannot write as an operator: its actor is replaced by its own.
    expect(entries.find((e) => e.message === "npm test")?.actor.type).toBe("replica");
    await r.replica.recordIteration.mutate({
      loopId: loop.id,
      iteration: 1,
      progress: { done: 1, total: 2 },
      usage: { inputTokens: 100, outputTokens: 20, usd: 0.25 },
    });
    await r.replica.recordIteration.mutate({
      loopId: loop.id,
      iteration: 2,
      progress: { done: 2, total: 2 },
      usage: { inputTokens: 50, outputTokens: 5, usd: 0.5 },
    });
    await r.replica.writeHandoff.mutate({
      loopId: loop.id,
      handoff: { done: ["US-001", "US-002"], validation: { state: "passed", details: "npm test" } },
    });
    const done = await r.replica.finalize.mutate({ loopId: loop.id, outcome: "synced", reason: "all-stories-passed" });
    expect(done.status).toMatchObject({
      state: "synced",
      reason: "all-stories-passed",
      iteration: 2,
      progress: { done: 2, total: 2 },
    });
    expect(done.cost).toEqual({ inputTokens: 150, outputTokens: 25, usd: 0.75 });
    expect(await op.cost.get.query({ loopId: loop.id })).toMatchObject({ cost: { usd: 0.75 } });
    expect((await op.handoffs.list.query({ loopId: loop.id }))[0]).toMatchObject({
      attempt: 1,
      done: ["US-001", "US-002"],
    });
    // The attempt is over: the replica's token can no longer write.
    const late = await fail(
      r.replica.appendJournal.mutate({
        loopId: loop.id,
        entries: [{ phase: "agent", actor: { type: "agent", id: "x" }, message: "late" }],
      }),
    );
    expect(late.code).toBe("CONFLICT");
  });

  test("appendJournal reuses the last append's fence: a re-taken lock still appends each entry once, a released one refuses", async ({
    api,
  }) => {
    const { loopId, attempt, r } = await lockedReplica(api);
    const op = api.client(api.tokens.operator);
    const entry = (message: string) => ({
      phase: "agent" as const,
      actor: { type: "agent" as const, id: "a" },
      message,
    });
    await r.replica.appendJournal.mutate({ loopId, entries: [entry("first")] });
    // The same attempt takes the lock again (a replica restarted in place): the lock key's
    // revision changes, so the remembered fence fails in etcd and the append reads the lock again.
    await r.replica.acquireLock.mutate({ loopId });
    const { seqs } = await r.replica.appendJournal.mutate({ loopId, entries: [entry("second"), entry("third")] });
    const list = async () => (await op.journal.list.query({ loopId })).entries;
    const entries = await list();
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    expect(entries.filter((e) => ["first", "second", "third"].includes(e.message)).map((e) => e.message)).toEqual([
      "first",
      "second",
      "third",
    ]);
    expect(seqs).toEqual(entries.slice(-2).map((e) => e.seq));
    // The lock is gone: the remembered fence no longer holds, and nothing is written.
    await api.store.locks.release(loopId, attempt);
    const refused = await fail(r.replica.appendJournal.mutate({ loopId, entries: [entry("late")] }));
    expect(refused).toMatchObject({ code: "CONFLICT", smith: { code: "stale_attempt" } });
    expect(await list()).toEqual(entries);
  });

  test("bad input: oversized PRD, unknown loop, malformed ids — typed errors, nothing written", async ({ api }) => {
    const op = api.client(api.tokens.operator);
    const big = JSON.stringify({
      project: "x",
      qualityGates: ["t"],
      stories: [
        { id: "A", title: "a", status: "open", acceptanceCriteria: ["c"], description: "x".repeat(LIMITS.prdBytes) },
      ],
    });
    const input = loopInput();
    const tooBig = await fail(
      op.loops.create.mutate({ ...input, spec: { ...input.spec, prd: { kind: "inline", content: big } } }),
    );
    expect(tooBig).toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
      smith: { code: "too_large", details: { field: "spec.prd.content", limit: 524288 } },
    });
    const notReady = await fail(
      op.loops.create.mutate({
        ...input,
        spec: { ...input.spec, prd: { kind: "inline", content: '{"project":"x","stories":[]}' } },
      }),
    );
    expect(notReady.code).toBe("BAD_REQUEST");
    expect(notReady.message).toMatch(/not ready/);
    const unknown = await fail(op.loops.get.query({ id: "01jz0000000000000000000000" }));
    expect(unknown.code).toBe("NOT_FOUND");
    const malformed = await fail(op.loops.cancel.mutate({ id: "../../etc", reason: "x" }));
    expect(malformed.code).toBe("BAD_REQUEST");
    expect(malformed.issues?.[0]?.path).toBe("id");
    const badRepo = await fail(
      op.loops.create.mutate({
        ...input,
        spec: { ...input.spec, repo: { url: "https://github.com/acme/app.git", baseBranch: "bad..branch" } },
      }),
    );
    expect(badRepo.issues?.[0]?.path).toBe("spec.repo.baseBranch");
    expect((await op.loops.list.query()).items).toHaveLength(0);
    expect(await api.store.client.getAll().prefix(api.store.keys.loopsPrefix()).count()).toBe(0);
  });

  test("a journal tail that disconnects after N entries resumes with lastEventId: no loss, no duplicate", async ({
    api,
  }) => {
    const { loopId, r } = await lockedReplica(api);
    const write = async (from: number, n: number) => {
      for (let i = from; i < from + n; i += 25) {
        await r.replica.appendJournal.mutate({
          loopId: loopId,
          entries: Array.from({ length: 25 }, (_, j) => ({
            phase: "agent" as const,
            actor: { type: "agent" as const, id: "a" },
            message: `m${i + j}`,
          })),
        });
      }
    };
    await write(0, 100);
    const seen: { id: string; seq: number }[] = [];
    const first = await new Promise<string>((resolve, reject) => {
      const sub = api.client(api.tokens.viewer).journal.tail.subscribe(
        { loopId: loopId },
        {
          onData: ({ id, data }) => {
            seen.push({ id, seq: data.seq });
            if (seen.length === 60) {
              sub.unsubscribe();
              resolve(id);
            }
          },
          onError: reject,
        },
      );
    });
    await write(100, 100);
    await new Promise<void>((resolve, reject) => {
      const sub = api.client(api.tokens.viewer).journal.tail.subscribe(
        { loopId: loopId, lastEventId: first },
        {
          onData: ({ id, data }) => {
            seen.push({ id, seq: data.seq });
            if (data.seq === 202) {
              sub.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        },
      );
      void write(200, 0);
    });
    // seq 1 is "created", seq 2 "took the lock", then 200 messages.
    expect(seen.map((s) => s.seq)).toEqual(Array.from({ length: 202 }, (_, i) => i + 1));
    expect(seen.every((s) => s.id === String(s.seq))).toBe(true);
  });

  test("two API servers on one etcd: a subscriber on one sees a change made through the other", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const a = await startTestApi(etcdEndpoint, prefix);
    const b = await startTestApi(etcdEndpoint, prefix);
    try {
      const seen = new Promise<string>((resolve, reject) => {
        const sub = a.client(a.tokens.admin).loops.watch.subscribe(
          {},
          {
            onData: ({ data }) => {
              if (data.type === "put" && data.loop.status.state === "cancelled") {
                sub.unsubscribe();
                resolve(data.loop.id);
              }
            },
            onError: reject,
          },
        );
      });
      await new Promise((r) => setTimeout(r, 300));
      const opB = b.client(b.tokens.operator);
      const { loop } = await opB.loops.create.mutate(loopInput());
      await opB.loops.cancel.mutate({ id: loop.id, reason: "seen elsewhere" });
      expect(await seen).toBe(loop.id);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("loops.watch resumes from lastEventId and /healthz, /readyz, /metrics answer", async ({ api }) => {
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    const events: { id: string; state: string }[] = [];
    const firstId = await new Promise<string>((resolve, reject) => {
      const sub = op.loops.watch.subscribe(
        { snapshot: true },
        {
          onData: ({ id, data }) => {
            if (data.type !== "put") return;
            events.push({ id, state: data.loop.status.state });
            sub.unsubscribe();
            resolve(id);
          },
          onError: reject,
        },
      );
    });
    await op.loops.cancel.mutate({ id: loop.id, reason: "while away" });
    const resumed = await new Promise<string>((resolve, reject) => {
      const sub = op.loops.watch.subscribe(
        { lastEventId: firstId },
        {
          onData: ({ data }) => {
            if (data.type !== "put") return;
            sub.unsubscribe();
            resolve(data.loop.status.state);
          },
          onError: reject,
        },
      );
    });
    expect(events[0]?.state).toBe("unresolved");
    expect(resumed).toBe("cancelled");
    expect(await (await fetch(`${api.url}/healthz`)).text()).toBe("ok\n");
    expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/smith_api_requests_total\{procedure="loops.create",type="mutation",code="OK"\} 1/);
    expect(metrics).toMatch(/smith_loops\{state="cancelled"\} 1/);
    expect(metrics).toMatch(/smith_queue_depth 0/);
  });

  test("loops.stats: live schedulers, queue depth and loops by state; each from etcd", async ({
    api,
    etcdEndpoint,
    prefix,
  }) => {
    const op = api.client(api.tokens.operator);
    const viewer = api.client(api.tokens.viewer);
    const empty = await viewer.loops.stats.query();
    expect(empty).toMatchObject({ schedulers: 0, queueDepth: 0, loops: { unresolved: 0, running: 0 } });
    const a = (await op.loops.create.mutate(loopInput())).loop.id;
    await runLoop(api, a); // opens a scheduler session, as a scheduler does
    const b = (await op.loops.create.mutate(loopInput())).loop.id;
    await op.loops.create.mutate(loopInput());
    await op.loops.cancel.mutate({ id: b, reason: "not needed" });
    // A fresh server: the 5 s cache of the first one would still show the empty cluster.
    const fresh = await startTestApi(etcdEndpoint, prefix);
    try {
      const stats = await fresh.client(fresh.tokens.viewer).loops.stats.query();
      expect(stats).toMatchObject({
        schedulers: 1,
        queueDepth: 1,
        loops: { unresolved: 1, running: 1, cancelled: 1, waiting: 0, synced: 0, flatline: 0 },
      });
      expect(Date.parse(stats.at)).toBeGreaterThan(Date.now() - 10_000);
      const metrics = await (await fetch(`${fresh.url}/metrics`)).text();
      expect(metrics).toMatch(/smith_schedulers 1/);
      expect(metrics).toMatch(/smith_queue_depth 1/);
    } finally {
      await fresh.close();
    }
  });

  test("audit.watch: the newest events first, then new ones as written; lastEventId resumes without loss or duplicate", async ({
    api,
  }) => {
    const op = api.client(api.tokens.operator);
    const viewer = api.client(api.tokens.viewer);
    const { loop } = await op.loops.create.mutate(loopInput());
    /** Collects `count` events of the subscription, then unsubscribes. */
    const collect = (input: { recent?: number; lastEventId?: string; loopId?: string }, count: number) =>
      new Promise<{ id: string; action: string }[]>((resolve, reject) => {
        const got: { id: string; action: string }[] = [];
        const sub = viewer.audit.watch.subscribe(input, {
          onData: ({ id, data }) => {
            got.push({ id, action: data.action });
            if (got.length === count) {
              sub.unsubscribe();
              resolve(got);
            }
          },
          onError: reject,
        });
      });
    const first = collect({ recent: 1, loopId: loop.id }, 2);
    // The subscription is live once its backfill arrived; the steer comes after.
    await new Promise((r) => setTimeout(r, 300));
    await op.loops.steer.mutate({ id: loop.id, message: "one" });
    const events = await first;
    expect(events.map((e) => e.action)).toEqual(["loops.create", "loops.steer"]);
    await op.loops.steer.mutate({ id: loop.id, message: "two" });
    await op.loops.cancel.mutate({ id: loop.id, reason: "while away" });
    const last = events[1]?.id ?? "";
    const resumed = await collect({ lastEventId: last, loopId: loop.id }, 2);
    expect(resumed.map((e) => e.action)).toEqual(["loops.steer", "loops.cancel"]);
    expect(Number(resumed[0]?.id)).toBeGreaterThan(Number(last));
  });

  test("loops.trace: the loop, its journal, handoffs, overrides and audit in one call", async ({ api }) => {
    const admin = api.client(api.tokens.admin);
    const { loopId, r } = await lockedReplica(api);
    await r.replica.appendJournal.mutate({
      loopId,
      entries: [{ phase: "agent", level: "info", actor: { type: "agent", id: "claude" }, message: "working" }],
    });
    await r.replica.writeHandoff.mutate({
      loopId,
      handoff: { done: ["US-001"], remaining: ["US-002"], validation: { state: "partial" } },
    });
    await admin.loops.override.mutate({ id: loopId, to: "flatline", reason: "stuck" });
    const trace = await api.client(api.tokens.viewer).loops.trace.query({ id: loopId });
    expect(trace.loop).toMatchObject({ id: loopId, status: { state: "flatline" } });
    expect(trace.journal.map((e) => e.seq)).toEqual(trace.journal.map((_, i) => i + 1));
    expect(trace.journal.map((e) => e.message)).toContain("working");
    expect(trace.journalMore).toBe(false);
    expect(trace.handoffs).toMatchObject([{ attempt: 1, done: ["US-001"], remaining: ["US-002"] }]);
    expect(trace.overrides).toMatchObject([{ from: "running", to: "flatline", reason: "stuck" }]);
    expect(trace.audit.map((e) => e.action)).toEqual([
      "loops.create",
      "replica.acquireLock",
      "replica.writeHandoff",
      "loops.override",
    ]);
    const short = await api.client(api.tokens.viewer).loops.trace.query({ id: loopId, journalLimit: 1 });
    expect(short.journal).toHaveLength(1);
    expect(short.journal[0]?.seq).toBe(trace.journal.at(-1)?.seq);
    expect(short.journalMore).toBe(true);
    const unknown = await fail(api.client(api.tokens.viewer).loops.trace.query({ id: "01jz0000000000000000000000" }));
    expect(unknown.code).toBe("NOT_FOUND");
  });

  test("subscriptions fail with a final error instead of retrying: an unknown loop, a compacted revision", async ({
    api,
  }) => {
    const viewer = api.client(api.tokens.viewer);
    const unknown = await new Promise<unknown>((resolve) => {
      const sub = viewer.journal.tail.subscribe(
        { loopId: "01jz0000000000000000000000" },
        {
          onData: () => undefined,
          onError: (e) => {
            sub.unsubscribe();
            resolve(e);
          },
        },
      );
    });
    expect(errorOf(unknown).code).toBe("NOT_FOUND");

    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    const old = (await api.store.loops.getOrThrow(loop.id)).revision;
    await op.loops.cancel.mutate({ id: loop.id, reason: "make history" });
    const now = (await api.store.loops.getOrThrow(loop.id)).revision;
    await api.store.client.kv.compact({ revision: now, physical: true });
    const compacted = await new Promise<unknown>((resolve) => {
      const sub = viewer.loops.watch.subscribe(
        { lastEventId: String(Number(old) - 1) },
        {
          onData: () => undefined,
          onError: (e) => {
            sub.unsubscribe();
            resolve(e);
          },
        },
      );
    });
    const e = errorOf(compacted);
    expect(e.code).toBe("NOT_FOUND");
    expect(e.message).toMatch(/compacted/);
  });

  test("journal.tailBatched: busy journals arrive in few events, every entry once and in order, resumable by the last seq", async ({
    api,
  }) => {
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    const entries = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        phase: "agent" as const,
        actor: { type: "agent" as const, id: "a" },
        message: `m${from + i}`,
      }));
    await api.store.journal.append(loop.id, entries(0, 300));
    const seen: number[] = [];
    let events = 0;
    const lastId = await new Promise<string>((resolve, reject) => {
      const sub = api.client(api.tokens.viewer).journal.tailBatched.subscribe(
        { loopId: loop.id },
        {
          onData: ({ id, data }) => {
            events++;
            seen.push(...data.entries.map((e) => e.seq));
            expect(id).toBe(String(data.entries[data.entries.length - 1]?.seq));
            if (seen.length >= 301) {
              sub.unsubscribe();
              resolve(id);
            }
          },
          onError: reject,
        },
      );
    });
    // 301 entries (the "created" entry and 300 more) that were all there already: a handful of events.
    expect(events).toBeLessThan(20);
    await api.store.journal.append(loop.id, entries(300, 50));
    await new Promise<void>((resolve, reject) => {
      const sub = api.client(api.tokens.viewer).journal.tailBatched.subscribe(
        { loopId: loop.id, lastEventId: lastId },
        {
          onData: ({ data }) => {
            seen.push(...data.entries.map((e) => e.seq));
            if (seen.length >= 351) {
              sub.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        },
      );
    });
    expect(seen).toEqual(Array.from({ length: 351 }, (_, i) => i + 1));
  });

  test("ten subscribers of one loop in one API process cost etcd one watch; each gets every entry once, in order", async ({
    api,
    etcdEndpoint,
  }) => {
    /** etcd's own count of the watchers it serves. */
    const watchers = () => etcdMetric(etcdEndpoint, "etcd_debugging_mvcc_watcher_total");
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    const before = await watchers();
    const seen = Array.from({ length: 10 }, () => [] as number[]);
    const subs = seen.map((mine) =>
      api
        .client(api.tokens.viewer)
        .journal.tailBatched.subscribe(
          { loopId: loop.id },
          { onData: ({ data }) => mine.push(...data.entries.map((e) => e.seq)) },
        ),
    );
    try {
      await expect.poll(() => seen.every((mine) => mine.length === 1), { timeout: 5000 }).toBe(true);
      expect(await watchers()).toBe(before + 1);
      for (let i = 0; i < 5; i++)
        await api.store.journal.append(
          loop.id,
          Array.from({ length: 20 }, (_, k) => ({
            phase: "agent" as const,
            actor: { type: "agent" as const, id: "a" },
            message: `m${i}-${k}`,
          })),
        );
      await expect.poll(() => seen.every((mine) => mine.length === 101), { timeout: 10_000 }).toBe(true);
      for (const mine of seen) expect(mine).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    } finally {
      subs.forEach((s) => s.unsubscribe());
    }
    await expect.poll(watchers, { timeout: 5000 }).toBe(before);
  });

  test("an internal failure is one structured error record: the procedure, the cause, no token", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const { log, records } = captureLogs("api");
    const api = await startTestApi(etcdEndpoint, prefix, { logger: log });
    try {
      const op = api.client(api.tokens.operator);
      const { loop } = await op.loops.create.mutate(loopInput());
      // A record written by a newer build: this one cannot read it, which is an internal error.
      await api.store.client.put(api.store.keys.loop(loop.id)).value(JSON.stringify({ schemaVersion: 99 }));
      expect((await fail(op.loops.get.query({ id: loop.id }))).code).toBe("INTERNAL_SERVER_ERROR");
      const errors = records.filter((r) => r.level === "error");
      expect(errors).toEqual([
        expect.objectContaining({
          component: "api",
          msg: "procedure failed",
          path: "loops.get",
          err: expect.objectContaining({ type: "SmithError", message: expect.stringContaining("schemaVersion 99") }),
        }),
      ]);
      expect(JSON.stringify(records)).not.toContain(api.tokens.operator);
    } finally {
      await api.close();
    }
  });
});
