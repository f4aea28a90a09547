import { silentLogger } from "@smith/logger";
import { GitHubServer, etcdTest } from "@smith/testing";
import { describe, expect } from "vitest";
import { startTestApi } from "../testSupport.ts";
import { GitHubPoller } from "./poller.ts";

const owner = "acme";
const name = "widgets";

const test = etcdTest.extend("github", async ({ task: _task }, { onCleanup }) => {
  const github = await GitHubServer.start();
  onCleanup(() => github.close());
  await github.createRepository(owner, name);
  return github;
});

const polls = (github: GitHubServer) => github.graphqlCalls.filter((c) => c.operationName === "SmithIssuesByLabel");

describe("GitHub poller", () => {
  test("two API processes: each repository is polled once per interval, its labeled issues become loops once", async ({
    etcdEndpoint,
    prefix,
    github,
  }) => {
    const token = github.createToken("smith-bot", { permission: "WRITE" });
    const api = await startTestApi(etcdEndpoint, prefix, {
      github: { apiUrl: github.apiUrl, token: async () => token, loopTemplate: { agent: { provider: "replay" } } },
    });
    try {
      github.createIssue(owner, name, { title: "One", labels: ["smith"] });
      github.createIssue(owner, name, { title: "Not for Smith" });
      const options = { repos: [{ owner, name }], intervalMs: 60_000 };
      const deps = {
        ingress: api.server.services.github,
        store: api.store,
        audit: api.server.services.audit,
        log: silentLogger,
        options,
      };
      const a = new GitHubPoller(deps);
      const b = new GitHubPoller(deps);
      await Promise.all([a.tick(), b.tick()]);
      expect(polls(github)).toHaveLength(1);
      const loops = (await api.client(api.tokens.admin).loops.list.query({})).items;
      expect(loops.map((l) => l.spec.title)).toEqual(["One"]);
      expect(loops[0]?.idempotencyKey).toBe(`github:${owner}/${name}#1`);
      // Not due again within the interval, whoever asks.
      await Promise.all([a.tick(), b.tick()]);
      expect(polls(github)).toHaveLength(1);
      // Due: a new issue is picked up; the old one makes no second loop.
      github.createIssue(owner, name, { title: "Two", labels: ["smith"] });
      await api.store.polls.defer(`github:${owner}/${name}`, new Date(), "test");
      await b.tick();
      expect(polls(github)).toHaveLength(2);
      const after = (await api.client(api.tokens.admin).loops.list.query({})).items;
      expect(after.map((l) => l.spec.title).sort()).toEqual(["One", "Two"]);
      const audit = (await api.client(api.tokens.admin).audit.list.query({ limit: 100 })).items;
      expect(audit.filter((e) => e.action === "github.poll").map((e) => [e.actor.id, e.details?.issue])).toEqual([
        ["github-poller", `${owner}/${name}#1`],
        ["github-poller", `${owner}/${name}#3`],
      ]);
    } finally {
      await api.close();
    }
  });

  test("GitHub's rate limit: the slot moves to the reset time and nobody asks before it", async ({
    etcdEndpoint,
    prefix,
    github,
  }) => {
    const token = github.createToken("smith-bot", { permission: "WRITE" });
    const api = await startTestApi(etcdEndpoint, prefix, {
      github: { apiUrl: github.apiUrl, token: async () => token },
    });
    try {
      github.createIssue(owner, name, { title: "One", labels: ["smith"] });
      const resetAt = new Date(Math.ceil((Date.now() + 3_600_000) / 1000) * 1000);
      github.setRateLimit({ remaining: 0, resetAt });
      const poller = new GitHubPoller({
        ingress: api.server.services.github,
        store: api.store,
        audit: api.server.services.audit,
        log: silentLogger,
        options: { repos: [{ owner, name }], intervalMs: 10_000 },
      });
      await poller.tick();
      const slot = await api.store.polls.get(`github:${owner}/${name}`);
      expect(slot?.nextAt).toBe(resetAt.toISOString());
      expect((await api.client(api.tokens.admin).loops.list.query({})).items).toEqual([]);
      // Another process, later: not due before the reset.
      const before = github.restCalls.length + github.graphqlCalls.length;
      await new GitHubPoller({
        ingress: api.server.services.github,
        store: api.store,
        audit: api.server.services.audit,
        log: silentLogger,
        options: { repos: [{ owner, name }], intervalMs: 10_000 },
      }).tick();
      expect(github.restCalls.length + github.graphqlCalls.length).toBe(before);
    } finally {
      await api.close();
    }
  });

  test("an API started with github.poll polls by itself", async ({ etcdEndpoint, prefix, github }) => {
    const token = github.createToken("smith-bot", { permission: "WRITE" });
    github.createIssue(owner, name, { title: "Found by polling", labels: ["smith"] });
    const api = await startTestApi(etcdEndpoint, prefix, {
      github: { apiUrl: github.apiUrl, token: async () => token, poll: { repos: [{ owner, name }] } },
    });
    try {
      const deadline = Date.now() + 10_000;
      let titles: string[] = [];
      while (Date.now() < deadline && titles.length === 0) {
        titles = (await api.client(api.tokens.admin).loops.list.query({})).items.map((l) => l.spec.title ?? "");
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(titles).toEqual(["Found by polling"]);
    } finally {
      await api.close();
    }
  });
});
