import { silentLogger } from "@smith/logger";
import type { CreateLoopRequest, NotificationBody } from "@smith/core";
import { SmithStore } from "@smith/store";
import { etcdTest as test } from "@smith/testing";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect } from "vitest";
import { Notifier } from "./notifier.ts";
import { verifyNotification } from "./notifySignature.ts";

const SECRET = "notify-secret-0123456789";
const PRD = JSON.stringify({
  project: "p",
  qualityGates: ["true"],
  stories: [{ id: "A", title: "a", status: "open", acceptanceCriteria: ["c"] }],
});

interface Received {
  raw: string;
  headers: IncomingHttpHeaders;
}

/** A real HTTP receiver on a random port; `answer(n)` is the status of the n-th request (0-based). */
async function receiver(answer: (n: number) => number = () => 200): Promise<{
  url: string;
  got: Received[];
  close: () => Promise<void>;
}> {
  const got: Received[] = [];
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      got.push({ raw: Buffer.concat(chunks).toString("utf8"), headers: req.headers });
      res.writeHead(answer(n++)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/secret-path`,
    got,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function request(urls: string[] = []): CreateLoopRequest {
  return {
    spec: {
      title: "notify <me>",
      repo: { url: "file:///nowhere.git" },
      prd: { kind: "inline", content: PRD },
      agent: { provider: "replay" },
      ...(urls.length ? { notify: { urls } } : {}),
    },
  };
}

/** Claims the loop and finalizes its attempt into waiting with a question. */
async function toWaiting(store: SmithStore, id: string): Promise<void> {
  const at = () => new Date().toISOString();
  await store.loops.transition(id, { type: "claimed", schedulerId: "t", at: at() });
  await store.loops.transition(id, {
    type: "finalized",
    attempt: 1,
    outcome: "waiting",
    reason: "question",
    question: "which database?",
    at: at(),
  });
}

function notifier(store: SmithStore, id: string, options: Partial<ConstructorParameters<typeof Notifier>[0]> = {}) {
  return new Notifier({ store, id, secret: SECRET, log: silentLogger, initialDelayMs: 20, maxDelayMs: 50, ...options });
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("notifier", () => {
  test("two notifiers, two transitions: the receiver gets exactly one signed message per transition", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    const hook = await receiver();
    const a = notifier(store, "scheduler-a", { urls: [hook.url] });
    const b = notifier(store, "scheduler-b", { urls: [hook.url] });
    try {
      a.start();
      b.start();
      const { loop } = await store.loops.create(request());
      await toWaiting(store, loop.id);
      await until(() => hook.got.length >= 1, "the waiting notification");
      // The answer puts it back in the queue; a second waiting is a second transition.
      await store.loops.transition(loop.id, {
        type: "answered",
        answer: "postgres",
        actor: "op",
        id: "s1",
        at: new Date().toISOString(),
      });
      await store.loops.transition(loop.id, { type: "claimed", schedulerId: "t", at: new Date().toISOString() });
      await store.loops.transition(loop.id, {
        type: "finalized",
        attempt: 2,
        outcome: "flatline",
        reason: "no-progress",
        message: "3 iterations in a row changed nothing",
        at: new Date().toISOString(),
      });
      await until(() => hook.got.length >= 2, "the flatline notification");
      // Settle: a duplicate would arrive now.
      await new Promise((r) => setTimeout(r, 500));
      await a.idle();
      await b.idle();
      expect(hook.got).toHaveLength(2);
      const bodies = hook.got.map((m) => JSON.parse(m.raw) as NotificationBody);
      expect(bodies.map((b) => b.event)).toEqual(["loop.waiting", "loop.flatline"]);
      for (const m of hook.got) {
        expect(verifyNotification(SECRET, m.raw, m.headers["x-smith-signature"] as string)).toBe(true);
        expect(verifyNotification("another-secret-123", m.raw, m.headers["x-smith-signature"] as string)).toBe(false);
        const body = JSON.parse(m.raw) as NotificationBody;
        expect(m.headers["x-smith-timestamp"]).toBe(String(Math.floor(Date.parse(body.sentAt) / 1000)));
        expect(m.headers["x-smith-delivery"]).toBe(body.id);
      }
      expect(bodies[0]?.loop).toMatchObject({
        id: loop.id,
        title: "notify <me>",
        state: "waiting",
        reason: "question",
        question: "which database?",
        attempt: 1,
        pullRequest: null,
      });
      expect(bodies[0]?.text).toBe(
        `Smith loop "notify &lt;me&gt;" (${loop.id}) is waiting (question). Question: which database?`,
      );
      expect(bodies[1]?.loop).toMatchObject({ state: "flatline", reason: "no-progress", attempt: 2 });
      const journal = (await store.journal.list(loop.id)).entries.filter((e) => e.phase === "notify");
      expect(journal.map((e) => e.message)).toEqual([
        expect.stringMatching(
          /^waiting notification to http:\/\/127\.0\.0\.1:\d+ delivered \(HTTP 200\) after 1 attempt$/,
        ),
        expect.stringMatching(
          /^flatline notification to http:\/\/127\.0\.0\.1:\d+ delivered \(HTTP 200\) after 1 attempt$/,
        ),
      ]);
      // Never the URL's path (it may be a secret) nor the key.
      expect(JSON.stringify(journal)).not.toMatch(/secret-path|notify-secret/);
      const records = await store.notifications.list(loop.id);
      expect(records).toHaveLength(2);
      expect(records.every((r) => r.phase === "done" && r.targets[0]?.outcome === "delivered")).toBe(true);
    } finally {
      await a.stop();
      await b.stop();
      await hook.close();
      store.close();
    }
  });

  test("a receiver that fails twice, then answers: one message delivered after retries", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    const hook = await receiver((n) => (n < 2 ? 503 : 204));
    const n = notifier(store, "scheduler-a");
    try {
      n.start();
      // Per loop: the spec's own URL.
      const { loop } = await store.loops.create(request([hook.url]));
      await toWaiting(store, loop.id);
      await until(
        async () => (await store.journal.list(loop.id)).entries.some((e) => e.phase === "notify"),
        "the journal entry",
      );
      expect(hook.got).toHaveLength(3);
      // Every retry is signed anew, and each carries the same delivery id.
      expect(hook.got.every((m) => verifyNotification(SECRET, m.raw, m.headers["x-smith-signature"] as string))).toBe(
        true,
      );
      expect(new Set(hook.got.map((m) => m.headers["x-smith-delivery"])).size).toBe(1);
      const entry = (await store.journal.list(loop.id)).entries.find((e) => e.phase === "notify");
      expect(entry?.message).toMatch(
        /^waiting notification to http:\/\/127\.0\.0\.1:\d+ delivered \(HTTP 204\) after 3 attempts$/,
      );
      expect(entry?.metadata).toMatchObject({ outcome: "delivered", attempts: 3, status: 204 });
    } finally {
      await n.stop();
      await hook.close();
      store.close();
    }
  });

  test("a dead receiver: journaled failed after its tries, and the loop is not touched", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    const dead = await receiver();
    await dead.close();
    const n = notifier(store, "scheduler-a", { urls: [dead.url], maxAttempts: 3 });
    try {
      n.start();
      const { loop } = await store.loops.create(request());
      await toWaiting(store, loop.id);
      const before = await store.loops.getOrThrow(loop.id);
      await until(
        async () => (await store.journal.list(loop.id)).entries.some((e) => e.phase === "notify"),
        "the journal entry",
      );
      const entry = (await store.journal.list(loop.id)).entries.find((e) => e.phase === "notify");
      expect(entry?.level).toBe("warn");
      expect(entry?.message).toMatch(
        /^waiting notification to http:\/\/127\.0\.0\.1:\d+ failed after 3 attempts: fetch failed \(ECONNREFUSED\)$/,
      );
      const after = await store.loops.getOrThrow(loop.id);
      expect(after.revision).toBe(before.revision);
      expect(after.loop.status).toMatchObject({ state: "waiting", reason: "question" });
      expect((await store.notifications.list(loop.id))[0]?.targets[0]).toMatchObject({
        outcome: "failed",
        attempts: 3,
      });
    } finally {
      await n.stop();
      store.close();
    }
  });
});
