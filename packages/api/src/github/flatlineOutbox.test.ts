import { GitHubServer, etcdTest } from "@smith/testing";
import { flatlineItem } from "@smith/store";
import { describe, expect, vi } from "vitest";
import { loopInput, startTestApi, type TestApi } from "../testSupport.ts";

/** Two API processes over one etcd, GitHub answering for acme/app, the outbox read every 200 ms. */
async function setup(etcdEndpoint: string, prefix: string, github: GitHubServer, up = () => true) {
  await github.createRepository("acme", "app");
  const token = github.createToken("smith-bot", { permission: "WRITE" });
  const options = {
    github: {
      apiUrl: github.apiUrl,
      token: async () => {
        if (!up()) throw new Error("the token source is down");
        return token;
      },
      loopTemplate: { agent: { provider: "replay" as const }, limits: { maxAttempts: 1 } },
    },
    githubOutbox: { intervalMs: 200, backoffMs: 300 },
  };
  const a = await startTestApi(etcdEndpoint, prefix, options);
  const b = await startTestApi(etcdEndpoint, prefix, options);
  return { a, b };
}

/** A loop from a new issue of acme/app, flatlined the way the reconciler does it (replica lost at max attempts). */
async function lostLoop(
  api: TestApi,
  github: GitHubServer,
  beforeFlatline = () => undefined,
): Promise<{ loopId: string; issue: number }> {
  const issue = github.createIssue("acme", "app", { title: "Lost" });
  const made = await api.client(api.tokens.operator).github.createFromIssue.mutate({ ref: `acme/app#${issue.number}` });
  if (!("loopId" in made)) throw new Error("no loop");
  beforeFlatline();
  await api.store.loops.transition(made.loopId, { type: "claimed", schedulerId: "s", at: new Date().toISOString() });
  await api.store.loops.transition(made.loopId, {
    type: "replicaLost",
    attempt: 1,
    message: "replica lost on attempt 1 (its executor reports it failed)",
    at: new Date().toISOString(),
  });
  return { loopId: made.loopId, issue: issue.number };
}

describe("the flatline outbox: the source issue hears of a flatline whoever decided it", () => {
  etcdTest(
    "a flatline written by another process (the reconciler): one comment with the reason, with two API processes draining",
    async ({ etcdEndpoint, prefix }) => {
      const github = await GitHubServer.start();
      const { a, b } = await setup(etcdEndpoint, prefix, github);
      try {
        const { loopId, issue } = await lostLoop(a, github);
        const comments = () => github.issue("acme", "app", issue).comments;
        await vi.waitFor(() => expect(comments()).toHaveLength(1), { timeout: 10_000, interval: 100 });
        expect(comments()[0]?.body).toContain(`Smith's loop \`${loopId}\` stopped without finishing: **replica-lost**`);
        expect(comments()[0]?.body).toContain("replica lost on attempt 1");
        // Told once: the item is gone, the journal says so, and more passes of both add nothing.
        await vi.waitFor(async () => expect(await a.store.outbox.list()).toEqual([]), { timeout: 5_000 });
        await a.server.services.githubOutbox.drain();
        await b.server.services.githubOutbox.drain();
        await new Promise((r) => setTimeout(r, 600));
        expect(comments()).toHaveLength(1);
        const journal = await a.client(a.tokens.viewer).journal.list.query({ loopId });
        expect(journal.entries.filter((e) => e.phase === "notify").map((e) => e.message)).toEqual([
          `the source issue acme/app#${issue} was told of the flatline (replica-lost)`,
        ]);

        // A loop not from an issue queues nothing.
        const { loop } = await a.client(a.tokens.operator).loops.create.mutate(loopInput());
        await a.store.loops.transition(loop.id, { type: "claimed", schedulerId: "s", at: new Date().toISOString() });
        await a.store.loops.transition(loop.id, {
          type: "finalized",
          attempt: 1,
          outcome: "flatline",
          reason: "no-progress",
          at: new Date().toISOString(),
        });
        expect(await a.store.outbox.list(loop.id)).toEqual([]);
      } finally {
        await a.close();
        await b.close();
        await github.close();
      }
    },
  );

  etcdTest(
    "a process that died after commenting and before clearing its item: the item is taken over and not commented twice",
    async ({ etcdEndpoint, prefix }) => {
      const github = await GitHubServer.start();
      const { a, b } = await setup(etcdEndpoint, prefix, github);
      try {
        await b.server.stop(100);
        // `a` is the process that dies: its outbox stops before the loop flatlines, so the item is
        // left as it would be by a process that took it, commented, and died.
        await a.server.services.githubOutbox.stop();
        const { loopId, issue } = await lostLoop(a, github);
        const [item] = await a.store.outbox.list(loopId);
        if (!item) throw new Error("no outbox item");
        expect(item.key.endsWith(flatlineItem(1))).toBe(true);
        const { loop } = await a.store.loops.getOrThrow(loopId);
        expect(await a.server.services.githubPublisher.tellFlatline(loop, item.record)).toBe("commented");
        const taken = await a.store.outbox.update(item, {
          ...item.record,
          takenBy: "api-dead",
          takenAt: new Date(Date.now() - 10 * 60_000).toISOString(),
        });
        expect(taken).toBeDefined();

        const c = await startTestApi(etcdEndpoint, prefix, {
          github: { apiUrl: github.apiUrl, token: async () => github.createToken("bot", { permission: "WRITE" }) },
          githubOutbox: { intervalMs: 200 },
        });
        try {
          await vi.waitFor(async () => expect(await c.store.outbox.list()).toEqual([]), { timeout: 10_000 });
          expect(github.issue("acme", "app", issue).comments).toHaveLength(1);
          const journal = await c.client(c.tokens.viewer).journal.list.query({ loopId });
          expect(journal.entries.filter((e) => e.phase === "notify").map((e) => e.message)).toEqual([
            `the source issue acme/app#${issue} already had the flatline comment`,
          ]);
        } finally {
          await c.close();
        }
      } finally {
        await a.close();
        await b.close();
        await github.close();
      }
    },
  );

  etcdTest("GitHub out of reach: the item backs off and is told once it is back", async ({ etcdEndpoint, prefix }) => {
    const github = await GitHubServer.start();
    let up = true;
    const { a, b } = await setup(etcdEndpoint, prefix, github, () => up);
    try {
      const { issue } = await lostLoop(a, github, () => {
        up = false;
      });
      await vi.waitFor(
        async () => expect((await a.store.outbox.list())[0]?.record.tries ?? 0).toBeGreaterThanOrEqual(1),
        { timeout: 10_000 },
      );
      const [item] = await a.store.outbox.list();
      expect(item?.record).toMatchObject({ lastError: expect.stringMatching(/down/) });
      expect(item?.record.notBefore).toBeDefined();
      expect(github.issue("acme", "app", issue).comments).toEqual([]);
      up = true;
      await vi.waitFor(() => expect(github.issue("acme", "app", issue).comments).toHaveLength(1), {
        timeout: 15_000,
        interval: 100,
      });
      await vi.waitFor(async () => expect(await a.store.outbox.list()).toEqual([]), { timeout: 5_000 });
      await new Promise((r) => setTimeout(r, 600));
      expect(github.issue("acme", "app", issue).comments).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
      await github.close();
    }
  });
});
