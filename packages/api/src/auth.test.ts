import { hashToken, mintReplicaToken } from "@smith/auth";
import { TRPCClientError, createSmithClient, type SmithClient } from "@smith/client";
import { SCHEMA_VERSION, newId, parsePrd, prdToMarkdown } from "@smith/core";
import type { SmithStore } from "@smith/store";
import { etcdTest, testPrefix } from "@smith/testing";
import type { AnyTRPCProcedure, TRPCProcedureType, TRPCRouterRecord } from "@trpc/server";
import { randomUUID } from "node:crypto";
import { describe, expect } from "vitest";
import { appRouter } from "./root.ts";
import { SIGNING_KEY, TEST_PRD, loopInput, runLoop, startTestApi, type TestApi } from "./testSupport.ts";

// The auth matrix: every procedure of appRouter × every kind of caller, against a real etcd and a
// real server. Procedures are enumerated from the router, so one added later without a row in
// ROWS fails here until someone decides who may call it.

// ---------------------------------------------------------------------------------------------
// Procedures, from the router itself

function isProcedure(item: AnyTRPCProcedure | TRPCRouterRecord): item is AnyTRPCProcedure {
  return typeof item === "function";
}

function proceduresOf(record: TRPCRouterRecord, prefix = ""): [path: string, type: TRPCProcedureType][] {
  return Object.entries(record).flatMap(([key, item]): [string, TRPCProcedureType][] =>
    isProcedure(item) ? [[`${prefix}${key}`, item._def.type]] : proceduresOf(item, `${prefix}${key}.`),
  );
}

const PROCEDURES = proceduresOf(appRouter._def.record);

// ---------------------------------------------------------------------------------------------
// The world each case runs against

interface World {
  /** Running on attempt 2 (attempt 1 was lost), its replica lock held by attempt 2; its journal has entries. */
  loopId: string;
  /** Another running loop (attempt 1). */
  otherLoopId: string;
  /** A viewer token nobody uses, for tokens.revoke. */
  tokenId: string;
  /** A live credential (anthropic, no default scope), for credentials.rotate and revoke. */
  credential: string;
}

/**
 * Claims the loop through the lifecycle, as a scheduler's claim does, but aimed at this loop
 * (claimNext takes whatever heads the queue), so that cases can build their worlds concurrently.
 */
async function claim(store: SmithStore, loopId: string): Promise<number> {
  const { loop } = await store.loops.transition(loopId, {
    type: "claimed",
    schedulerId: "auth-test",
    at: new Date().toISOString(),
  });
  return loop.status.attempt;
}

async function buildWorld(api: TestApi, otherLoopId: string): Promise<World> {
  const { store } = api;
  const { loop } = await store.loops.create(loopInput());
  expect(await claim(store, loop.id)).toBe(1);
  await store.loops.transition(loop.id, { type: "replicaLost", attempt: 1, at: new Date().toISOString() });
  expect(await claim(store, loop.id)).toBe(2);
  await api.server.services.replica.acquireLock(loop.id, 2);
  const tokenId = newId();
  await store.tokens.create({
    schemaVersion: SCHEMA_VERSION,
    id: tokenId,
    name: "spare",
    role: "viewer",
    hash: hashToken(`smt.${tokenId}.spare`),
    createdAt: new Date().toISOString(),
    createdBy: "auth.test",
  });
  const credential = `spare-${tokenId}`;
  await api.server.services.credentials.create(
    { name: credential, type: "anthropic", value: "sk-ant-spare", scope: { default: false } },
    "auth.test",
  );
  return { loopId: loop.id, otherLoopId, tokenId, credential };
}

/** What must not move when a call is refused: the loop's revision and its journal head. */
async function loopState(store: SmithStore, loopId: string): Promise<{ revision: string; journalHead: number }> {
  const [{ revision }, head] = await Promise.all([store.loops.getOrThrow(loopId), store.journal.head(loopId)]);
  return { revision, journalHead: head.seq };
}

// ---------------------------------------------------------------------------------------------
// Callers

const CALLERS = {
  none: () => undefined,
  garbage: () => `garbage-${randomUUID()}`,
  expiredReplica: (_api: TestApi, w: World) =>
    mintReplicaToken(SIGNING_KEY, {
      loopId: w.loopId,
      attempt: 2,
      ttlSeconds: 60,
      now: new Date(Date.now() - 3_600_000),
    }),
  viewer: (api: TestApi) => api.tokens.viewer,
  operator: (api: TestApi) => api.tokens.operator,
  admin: (api: TestApi) => api.tokens.admin,
  replica: (api: TestApi, w: World) => api.replicaToken(w.loopId, 2),
  otherReplica: (api: TestApi, w: World) => api.replicaToken(w.otherLoopId, 1),
  staleReplica: (api: TestApi, w: World) => api.replicaToken(w.loopId, 1),
} satisfies Record<string, (api: TestApi, w: World) => string | undefined>;
type Caller = keyof typeof CALLERS;
const CALLER_NAMES = Object.keys(CALLERS) as Caller[];

// ---------------------------------------------------------------------------------------------
// Expectations

/** Who a procedure is for. */
type Access = "public" | "viewer" | "operator" | "admin" | "replica";
type Expected = "allowed" | "UNAUTHORIZED" | "FORBIDDEN" | "CONFLICT";

const A = "allowed";
const U = "UNAUTHORIZED";
const F = "FORBIDDEN";

const EXPECTED: Record<Access, Record<Caller, Expected>> = {
  public: {
    none: A,
    garbage: A,
    expiredReplica: A,
    viewer: A,
    operator: A,
    admin: A,
    replica: A,
    otherReplica: A,
    staleReplica: A,
  },
  viewer: {
    none: U,
    garbage: U,
    expiredReplica: U,
    viewer: A,
    operator: A,
    admin: A,
    replica: F,
    otherReplica: F,
    staleReplica: F,
  },
  operator: {
    none: U,
    garbage: U,
    expiredReplica: U,
    viewer: F,
    operator: A,
    admin: A,
    replica: F,
    otherReplica: F,
    staleReplica: F,
  },
  admin: {
    none: U,
    garbage: U,
    expiredReplica: U,
    viewer: F,
    operator: F,
    admin: A,
    replica: F,
    otherReplica: F,
    staleReplica: F,
  },
  // A replica token is for its own loop and its own attempt: a retried loop's earlier attempt is CONFLICT.
  replica: {
    none: U,
    garbage: U,
    expiredReplica: U,
    viewer: F,
    operator: F,
    admin: F,
    replica: A,
    otherReplica: F,
    staleReplica: "CONFLICT",
  },
};

interface Row {
  access: Access;
  type: TRPCProcedureType;
  /** Calls the procedure (and, for some, checks what came back). */
  call: (c: SmithClient, w: World) => Promise<unknown>;
  /** What an allowed caller gets in the world, when that is not success. */
  allowedOutcome?: string;
}

const reason = "auth matrix";
const PRD_MARKDOWN = prdToMarkdown(parsePrd(TEST_PRD));

/** Subscribes, waits for the first event (or the error) and unsubscribes. */
function firstEvent(
  subscribe: (handlers: { onData: (data: unknown) => void; onError: (err: unknown) => void }) => {
    unsubscribe(): void;
  },
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const done = (settle: () => void) => {
      clearTimeout(timer);
      sub.unsubscribe();
      settle();
    };
    const timer = setTimeout(() => done(() => reject(new Error("the subscription yielded nothing within 5 s"))), 5_000);
    const sub = subscribe({ onData: (data) => done(() => resolve(data)), onError: (err) => done(() => reject(err)) });
  });
}

const ROWS: Record<string, Row> = {
  "loops.create": {
    access: "operator",
    type: "mutation",
    call: async (c) => expect((await c.loops.create.mutate(loopInput())).created).toBe(true),
  },
  "loops.createBatch": {
    access: "operator",
    type: "mutation",
    call: async (c) =>
      expect((await c.loops.createBatch.mutate({ items: [loopInput()] })).results.map((r) => r.ok)).toEqual([true]),
  },
  "loops.get": {
    access: "viewer",
    type: "query",
    call: async (c, w) => expect((await c.loops.get.query({ id: w.loopId })).id).toBe(w.loopId),
  },
  "loops.list": { access: "viewer", type: "query", call: (c) => c.loops.list.query({ limit: 1 }) },
  "loops.stats": {
    access: "viewer",
    type: "query",
    call: async (c) => expect((await c.loops.stats.query()).loops.running).toBeGreaterThanOrEqual(1),
  },
  "loops.cancel": {
    access: "operator",
    type: "mutation",
    call: async (c, w) =>
      expect((await c.loops.cancel.mutate({ id: w.loopId, reason })).status.state).toBe("cancelled"),
  },
  // Only a flatline loop can be retried; the world's loop is running.
  "loops.retry": {
    access: "operator",
    type: "mutation",
    call: (c, w) => c.loops.retry.mutate({ id: w.loopId, reason }),
    allowedOutcome: "PRECONDITION_FAILED",
  },
  "loops.steer": {
    access: "operator",
    type: "mutation",
    call: (c, w) => c.loops.steer.mutate({ id: w.loopId, message: "steer" }),
  },
  // Only a waiting loop can be answered; the world's loop is running.
  "loops.answer": {
    access: "operator",
    type: "mutation",
    call: (c, w) => c.loops.answer.mutate({ id: w.loopId, answer: "use v2" }),
    allowedOutcome: "PRECONDITION_FAILED",
  },
  "loops.override": {
    access: "admin",
    type: "mutation",
    call: async (c, w) =>
      expect((await c.loops.override.mutate({ id: w.loopId, to: "flatline", reason })).status.state).toBe("flatline"),
  },
  // An unknown id: nothing to delete, so concurrent cases keep their loops; the call is audited.
  "loops.delete": {
    access: "admin",
    type: "mutation",
    call: async (c) =>
      expect((await c.loops.delete.mutate({ ids: ["01jz0000000000000000000000"] })).results).toEqual([
        { id: "01jz0000000000000000000000", outcome: "not_found" },
      ]),
  },
  // A dry run: the other cases' loops stay.
  "loops.cleanup": {
    access: "admin",
    type: "mutation",
    call: async (c) =>
      expect(await c.loops.cleanup.mutate({ state: ["synced"], olderThanMs: 1, dryRun: true })).toMatchObject({
        dryRun: true,
      }),
  },
  "loops.trace": {
    access: "viewer",
    type: "query",
    call: async (c, w) =>
      expect(await c.loops.trace.query({ id: w.loopId })).toMatchObject({
        loop: { id: w.loopId },
        journal: expect.arrayContaining([expect.objectContaining({ seq: 1 })]),
      }),
  },
  "loops.runtime": {
    access: "viewer",
    type: "query",
    call: async (c, w) => expect(await c.loops.runtime.query({ id: w.loopId })).toMatchObject({ loopId: w.loopId }),
  },
  // The world's loop was claimed without an executor: it has no replica log to read.
  "loops.replicaLog": {
    access: "operator",
    type: "query",
    call: (c, w) => c.loops.replicaLog.query({ id: w.loopId }),
    allowedOutcome: "NOT_FOUND",
  },
  // The world's loop runs without an executor handle: no replica to run a command in.
  "loops.exec": {
    access: "operator",
    type: "mutation",
    call: (c, w) => c.loops.exec.mutate({ id: w.loopId, command: ["true"] }),
    allowedOutcome: "PRECONDITION_FAILED",
  },
  "loops.watch": {
    access: "viewer",
    type: "subscription",
    call: (c) => firstEvent((h) => c.loops.watch.subscribe({ snapshot: true, state: ["running"] }, h)),
  },
  "journal.list": { access: "viewer", type: "query", call: (c, w) => c.journal.list.query({ loopId: w.loopId }) },
  "journal.tail": {
    access: "viewer",
    type: "subscription",
    call: async (c, w) =>
      expect(await firstEvent((h) => c.journal.tail.subscribe({ loopId: w.loopId }, h))).toMatchObject({
        data: { loopId: w.loopId, seq: 1 },
      }),
  },
  "journal.tailBatched": {
    access: "viewer",
    type: "subscription",
    call: async (c, w) =>
      expect(await firstEvent((h) => c.journal.tailBatched.subscribe({ loopId: w.loopId }, h))).toMatchObject({
        data: { entries: [{ loopId: w.loopId, seq: 1 }] },
      }),
  },
  "handoffs.list": { access: "viewer", type: "query", call: (c, w) => c.handoffs.list.query({ loopId: w.loopId }) },
  "overrides.list": { access: "viewer", type: "query", call: (c, w) => c.overrides.list.query({ loopId: w.loopId }) },
  "audit.list": { access: "viewer", type: "query", call: (c, w) => c.audit.list.query({ loopId: w.loopId }) },
  "audit.watch": {
    access: "viewer",
    type: "subscription",
    call: (c) => firstEvent((h) => c.audit.watch.subscribe({ recent: 1 }, h)),
  },
  "cost.get": { access: "viewer", type: "query", call: (c, w) => c.cost.get.query({ loopId: w.loopId }) },
  "cost.summary": { access: "viewer", type: "query", call: (c) => c.cost.summary.query({ state: ["synced"] }) },
  "prd.validate": {
    access: "viewer",
    type: "query",
    call: async (c) => expect((await c.prd.validate.query({ content: TEST_PRD })).valid).toBe(true),
  },
  // Mutations only in the HTTP sense: they transform text and write nothing, so a viewer may call them.
  "prd.importMarkdown": {
    access: "viewer",
    type: "mutation",
    call: async (c) => expect((await c.prd.importMarkdown.mutate({ markdown: PRD_MARKDOWN })).report.valid).toBe(true),
  },
  "prd.exportMarkdown": {
    access: "viewer",
    type: "mutation",
    call: (c) => c.prd.exportMarkdown.mutate({ content: TEST_PRD }),
  },
  "replica.acquireLock": {
    access: "replica",
    type: "mutation",
    call: (c, w) => c.replica.acquireLock.mutate({ loopId: w.loopId }),
  },
  "replica.heartbeat": {
    access: "replica",
    type: "mutation",
    call: async (c, w) =>
      expect(await c.replica.heartbeat.mutate({ loopId: w.loopId })).toMatchObject({ state: "running", stop: false }),
  },
  "replica.getSpec": {
    access: "replica",
    type: "query",
    call: async (c, w) => expect((await c.replica.getSpec.query({ loopId: w.loopId })).loop.id).toBe(w.loopId),
  },
  "replica.appendJournal": {
    access: "replica",
    type: "mutation",
    call: (c, w) =>
      c.replica.appendJournal.mutate({
        loopId: w.loopId,
        entries: [{ phase: "agent", actor: { type: "agent", id: "a" }, message: "hello" }],
      }),
  },
  "replica.recordIteration": {
    access: "replica",
    type: "mutation",
    call: (c, w) =>
      c.replica.recordIteration.mutate({ loopId: w.loopId, iteration: 1, progress: { done: 1, total: 2 } }),
  },
  "replica.writeHandoff": {
    access: "replica",
    type: "mutation",
    call: (c, w) =>
      c.replica.writeHandoff.mutate({
        loopId: w.loopId,
        handoff: { done: ["US-001"], validation: { state: "passed" } },
      }),
  },
  "replica.finalize": {
    access: "replica",
    type: "mutation",
    call: async (c, w) =>
      expect(
        (await c.replica.finalize.mutate({ loopId: w.loopId, outcome: "synced", reason: "all-stories-passed" })).status
          .state,
      ).toBe("synced"),
  },
  "replica.recordEvidence": {
    access: "replica",
    type: "mutation",
    call: async (c, w) =>
      expect(
        await c.replica.recordEvidence.mutate({
          loopId: w.loopId,
          update: { gates: { source: "spec", commands: ["true"], detectedFrom: [] } },
        }),
      ).toEqual({ stories: 0 }),
  },
  "replica.ackSteering": {
    access: "replica",
    type: "mutation",
    call: (c, w) => c.replica.ackSteering.mutate({ loopId: w.loopId, ids: ["nothing"] }),
  },
  "replica.credentials": {
    access: "replica",
    type: "mutation",
    call: async (c, w) => expect(await c.replica.credentials.mutate({ loopId: w.loopId })).toEqual({}),
  },
  "replica.publishPullRequest": {
    access: "replica",
    type: "mutation",
    // The world's loop has a non-GitHub remote: the call is authorized and publishes nothing.
    call: async (c, w) =>
      expect(await c.replica.publishPullRequest.mutate({ loopId: w.loopId, report: { stories: [] } })).toMatchObject({
        published: false,
      }),
  },
  "replica.sourceIssue": {
    access: "replica",
    type: "query",
    // The world's loop is not from a GitHub issue: an authorized caller gets past the token
    // checks to the typed BAD_REQUEST about the source; anyone else is refused before it.
    call: (c, w) =>
      c.replica.sourceIssue.query({ loopId: w.loopId }).catch((err: unknown) => {
        if (errorData(err).code === "BAD_REQUEST") return "not from a GitHub issue";
        throw err;
      }),
  },
  "credentials.create": {
    access: "admin",
    type: "mutation",
    call: (c) =>
      c.credentials.create.mutate({
        name: `made-${newId()}`,
        type: "openai",
        value: "sk-made",
        scope: { default: false },
      }),
  },
  "credentials.rotate": {
    access: "admin",
    type: "mutation",
    call: (c, w) => c.credentials.rotate.mutate({ name: w.credential, value: "sk-rotated" }),
  },
  "credentials.revoke": {
    access: "admin",
    type: "mutation",
    call: async (c, w) => expect((await c.credentials.revoke.mutate({ name: w.credential })).revokedAt).toBeDefined(),
  },
  "credentials.list": { access: "admin", type: "query", call: (c) => c.credentials.list.query() },
  "credentials.reseal": { access: "admin", type: "mutation", call: (c) => c.credentials.reseal.mutate() },
  // This API has no GitHub token: an allowed caller learns that GitHub cannot be reached from here.
  "github.createFromIssue": {
    access: "operator",
    type: "mutation",
    call: (c) => c.github.createFromIssue.mutate({ ref: "acme/app#1" }),
    allowedOutcome: "SERVICE_UNAVAILABLE",
  },
  "github.ingest": {
    access: "operator",
    type: "mutation",
    call: (c) => c.github.ingest.mutate({ repo: "acme/app" }),
    allowedOutcome: "SERVICE_UNAVAILABLE",
  },
  "tokens.create": {
    access: "admin",
    type: "mutation",
    call: (c) => c.tokens.create.mutate({ name: "made", role: "viewer" }),
  },
  "tokens.list": { access: "admin", type: "query", call: (c) => c.tokens.list.query() },
  "tokens.revoke": {
    access: "admin",
    type: "mutation",
    call: async (c, w) => expect((await c.tokens.revoke.mutate({ id: w.tokenId })).revokedAt).toBeDefined(),
  },
  "health.check": {
    access: "public",
    type: "query",
    call: async (c) => expect(await c.health.check.query()).toEqual({ ok: true, etcd: true }),
  },
  "health.version": { access: "public", type: "query", call: (c) => c.health.version.query() },
};

// ---------------------------------------------------------------------------------------------
// Helpers

function errorData(err: unknown): { code?: string; smith?: { code: string } } {
  if (!(err instanceof TRPCClientError)) throw err;
  return (err.data as { code?: string; smith?: { code: string } } | undefined) ?? {};
}

/** "OK", or the tRPC error code the call failed with (anything else is rethrown: a failed check, a timeout). */
async function outcomeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (err) {
    return errorData(err).code ?? "NO_CODE";
  }
}

async function failure(call: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const err = await call.then(
    () => new Error("expected the call to fail"),
    (e: unknown) => e,
  );
  return { code: errorData(err).code, message: err instanceof Error ? err.message : String(err) };
}

const AUTH_CODES = ["UNAUTHORIZED", "FORBIDDEN"];
/** Replica telemetry is a record of its own (the journal, the lock), not audited; its denials are. */
const UNAUDITED = ["replica.heartbeat", "replica.appendJournal"];

// ---------------------------------------------------------------------------------------------
// Fixtures: one server for the matrix

interface Shared {
  api: TestApi;
  admin: SmithClient;
  /** For calls that must be refused or only read (each refused call is checked to have changed nothing). */
  world: World;
  /** For calls that may write: a world of their own, so that no case sees another's writes. */
  freshWorld(): Promise<World>;
}

const test = etcdTest.extend("shared", { scope: "file" }, async ({ etcdEndpoint }, { onCleanup }): Promise<Shared> => {
  const api = await startTestApi(etcdEndpoint, testPrefix());
  onCleanup(() => api.close());
  const { loop: other } = await api.store.loops.create(loopInput());
  await claim(api.store, other.id);
  return {
    api,
    admin: api.client(api.tokens.admin),
    world: await buildWorld(api, other.id),
    freshWorld: () => buildWorld(api, other.id),
  };
});

// ---------------------------------------------------------------------------------------------

describe("auth matrix: every procedure × every caller", () => {
  test("every procedure of appRouter has a row, and every row a procedure", () => {
    expect(PROCEDURES.length).toBeGreaterThan(0);
    expect(Object.keys(ROWS).sort()).toEqual(PROCEDURES.map(([path]) => path).sort());
    for (const [path, type] of PROCEDURES) expect(ROWS[path]?.type, path).toBe(type);
  });

  const cases = PROCEDURES.flatMap(([path]) => CALLER_NAMES.map((caller) => ({ path, caller, row: ROWS[path] })));

  test.concurrent.for(cases)("$path as $caller", async ({ path, caller, row }, { shared }) => {
    if (!row) throw new Error(`${path} has no row in ROWS: decide who may call it`);
    const { api, admin } = shared;
    const expected = EXPECTED[row.access][caller];
    const w = expected === "allowed" && row.type === "mutation" ? await shared.freshWorld() : shared.world;
    const token = CALLERS[caller](api, w);
    const correlationId = `matrix-${randomUUID()}`;
    const client = createSmithClient({ url: api.url, token, correlationId });
    const from = new Date().toISOString();
    const before = await loopState(api.store, w.loopId);

    const outcome = await outcomeOf(row.call(client, w));

    if (expected === "allowed") {
      expect(AUTH_CODES).not.toContain(outcome);
      expect(outcome).toBe(row.allowedOutcome ?? "OK");
    } else {
      expect(outcome).toBe(expected);
      expect(await loopState(api.store, w.loopId), "a refused call changes nothing").toEqual(before);
    }

    // Refusals and mutations are audited (reads are not), and no audit event holds a token.
    if (expected === "allowed" && row.type !== "mutation") return;
    const audit = (await admin.audit.list.query({ from, limit: 500 })).items;
    const mine = audit.filter((e) => e.correlationId === correlationId);
    if (expected === "UNAUTHORIZED" || expected === "FORBIDDEN") {
      expect(mine).toMatchObject([{ action: path, outcome: "denied", error: expected }]);
    } else if (expected === "CONFLICT" && row.type === "mutation" && !UNAUDITED.includes(path)) {
      expect(mine).toMatchObject([
        { action: path, outcome: "error", error: "stale_attempt", actor: { type: "replica" } },
      ]);
    } else if (expected === "allowed" && !UNAUDITED.includes(path) && row.access !== "viewer") {
      expect(mine).toMatchObject([{ action: path, outcome: row.allowedOutcome ? "error" : "ok" }]);
    }
    if (token) expect(JSON.stringify(audit)).not.toContain(token);
  });
});

describe("API tokens", () => {
  test("a revoked token is refused at once by the server that revoked it and within the cache window by another", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const cacheMs = 300;
    const a = await startTestApi(etcdEndpoint, prefix, { authCacheMs: cacheMs });
    const b = await startTestApi(etcdEndpoint, prefix, { authCacheMs: cacheMs });
    try {
      const { token, record } = await a
        .client(a.tokens.admin)
        .tokens.create.mutate({ name: "short-lived", role: "viewer" });
      const onA = a.client(token);
      const onB = b.client(token);
      // Both servers have now read (and cached) the token's record.
      await onA.loops.list.query();
      await onB.loops.list.query();

      await a.client(a.tokens.admin).tokens.revoke.mutate({ id: record.id });
      const revokedAt = Date.now();
      expect(await failure(onA.loops.list.query())).toMatchObject({
        code: "UNAUTHORIZED",
        message: "the token has been revoked",
      });
      let refusedAfter: number | undefined;
      while (refusedAfter === undefined && Date.now() - revokedAt < cacheMs + 3_000) {
        if ((await outcomeOf(onB.loops.list.query())) === "UNAUTHORIZED") refusedAfter = Date.now() - revokedAt;
        else await new Promise((r) => setTimeout(r, 25));
      }
      expect(refusedAfter).toBeDefined();
      // Within the window (plus a request's latency), not the 5 s default.
      expect(refusedAfter).toBeLessThan(cacheMs + 1_000);
      const listed = await a.client(a.tokens.admin).tokens.list.query();
      expect(listed.find((t) => t.id === record.id)?.revokedAt).toBeDefined();
      expect(JSON.stringify(listed)).not.toContain(token);
    } finally {
      await b.close();
      await a.close();
    }
  });

  test("a token cannot be created already expired", async ({ shared }) => {
    const { admin } = shared;
    for (const expiresInDays of [0, -1]) {
      const e = await failure(admin.tokens.create.mutate({ name: "born-expired", role: "viewer", expiresInDays }));
      expect(e.code).toBe("BAD_REQUEST");
      expect(e.message).toMatch(/expiresInDays/);
    }
    expect((await admin.tokens.list.query()).map((t) => t.name)).not.toContain("born-expired");
  });

  // Records written straight to etcd, as an older version or an operator's tool might leave them.
  test.for([
    {
      record: "expired",
      fields: { expiresAt: new Date(Date.now() - 60_000).toISOString() },
      answer: "the token has expired",
    },
    {
      record: "with an expiry that does not parse (fail closed)",
      fields: { expiresAt: "next tuesday" },
      answer: "the token has expired",
    },
    {
      record: "with an empty revokedAt (fail closed)",
      fields: { revokedAt: "" },
      answer: "the token has been revoked",
    },
    {
      record: "expiring in an hour",
      fields: { expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
      answer: "accepted",
    },
  ])("a stored token $record: $answer", async ({ fields, answer }, { shared }) => {
    const { api, admin } = shared;
    const id = newId();
    const token = `smt.${id}.${randomUUID()}`;
    await api.store.tokens.put({
      schemaVersion: SCHEMA_VERSION,
      id,
      name: "stored",
      role: "viewer",
      hash: hashToken(token),
      createdAt: new Date().toISOString(),
      createdBy: "auth.test",
      ...fields,
    });
    const correlationId = `stored-${randomUUID()}`;
    const from = new Date().toISOString();
    const call = createSmithClient({ url: api.url, token, correlationId }).loops.list.query({ limit: 1 });
    if (answer === "accepted") {
      expect((await call).items).toBeDefined();
      return;
    }
    // Refused, and the refusal audited without the token.
    expect(await failure(call)).toMatchObject({ code: "UNAUTHORIZED", message: answer });
    const audit = (await admin.audit.list.query({ from })).items;
    expect(audit.filter((a) => a.correlationId === correlationId)).toMatchObject([
      { action: "loops.list", outcome: "denied", error: "UNAUTHORIZED", actor: { type: "api", id: "anonymous" } },
    ]);
    expect(JSON.stringify(audit)).not.toContain(token);
  });
});

describe("replica tokens", () => {
  test("after a retry, the earlier attempt's token gets CONFLICT from every replica procedure and changes nothing", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const { loop } = await api.client(api.tokens.operator).loops.create.mutate(loopInput());
      expect(await runLoop(api, loop.id)).toBe(1);
      await api.store.loops.transition(loop.id, { type: "replicaLost", attempt: 1, at: new Date().toISOString() });
      expect(await runLoop(api, loop.id)).toBe(2);
      await api.client(api.replicaToken(loop.id, 2)).replica.acquireLock.mutate({ loopId: loop.id });
      const before = await loopState(api.store, loop.id);

      const stale = api.client(api.replicaToken(loop.id, 1));
      // The replica rows read only the world's loopId.
      const world: World = { loopId: loop.id, otherLoopId: loop.id, tokenId: "", credential: "" };
      const replicaPaths = PROCEDURES.map(([path]) => path).filter((path) => path.startsWith("replica."));
      expect(replicaPaths.length).toBeGreaterThan(0);
      for (const path of replicaPaths) {
        const row = ROWS[path];
        if (!row) throw new Error(`${path} has no row`);
        expect(await outcomeOf(row.call(stale, world)), path).toBe("CONFLICT");
      }
      expect(await loopState(api.store, loop.id)).toEqual(before);
      expect((await api.store.loops.getOrThrow(loop.id)).loop.status).toMatchObject({
        state: "running",
        attempt: 2,
        iteration: 0,
      });
    } finally {
      await api.close();
    }
  });
});
