import { GitHubServer, etcdTest } from "@smith/testing";
import { TRPCClientError } from "@trpc/client";
import { describe, expect } from "vitest";
import { startTestApi } from "../testSupport.ts";

const owner = "acme";
const name = "widgets";

/** A real API (over the file's etcd, with a GitHub token) and a test GitHub, per test. */
const test = etcdTest
  .extend("github", async ({ task: _task }, { onCleanup }) => {
    const github = await GitHubServer.start();
    onCleanup(() => github.close());
    await github.createRepository(owner, name);
    return github;
  })
  .extend("api", async ({ etcdEndpoint, prefix, github }, { onCleanup }) => {
    const token = github.createToken("smith-bot", { permission: "WRITE" });
    const api = await startTestApi(etcdEndpoint, prefix, {
      github: {
        webhookSecret: "secret",
        apiUrl: github.apiUrl,
        token: async (repo) => (repo.owner === owner ? token : undefined),
        loopTemplate: { agent: { provider: "replay" }, qualityGates: ["true"] },
      },
    });
    onCleanup(() => api.close());
    return api;
  });

function smithCode(err: unknown): { code?: string; smith?: { code: string; details?: Record<string, unknown> } } {
  if (!(err instanceof TRPCClientError)) throw err;
  return err.data as { code?: string; smith?: { code: string; details?: Record<string, unknown> } };
}

describe("github.createFromIssue and github.ingest", () => {
  test("one issue by reference: the loop the webhook would make, once however often it is asked", async ({
    api,
    github,
  }) => {
    const issue = github.createIssue(owner, name, { title: "Add widgets", body: "please" });
    const operator = api.client(api.tokens.operator);
    const first = await operator.github.createFromIssue.mutate({ ref: `${owner}/${name}#${issue.number}` });
    expect(first).toMatchObject({ ref: `${owner}/${name}#${issue.number}`, kind: "loop-created" });
    const again = await operator.github.createFromIssue.mutate({ ref: `${owner}/${name}#${issue.number}` });
    expect(again).toMatchObject({ kind: "loop-exists" });
    const { items } = await operator.loops.list.query({});
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      source: { type: "github_issue", ref: `${owner}/${name}#${issue.number}` },
      idempotencyKey: `github:${owner}/${name}#${issue.number}`,
      spec: { title: "Add widgets", prd: { kind: "issue" }, repo: { url: github.cloneUrl(owner, name) } },
    });
    const audit = await operator.audit.list.query({ limit: 50 });
    expect(audit.items.some((e) => e.action === "github.createFromIssue" && e.outcome === "ok")).toBe(true);
  });

  test("a repository's open issues with the label, in one call; a second call makes nothing new", async ({
    api,
    github,
  }) => {
    const a = github.createIssue(owner, name, { title: "One", labels: ["smith"] });
    github.createIssue(owner, name, { title: "Unlabeled" });
    const c = github.createIssue(owner, name, { title: "Two", labels: ["smith", "bug"] });
    github.createIssue(owner, name, { title: "Other label", labels: ["later"] });
    const operator = api.client(api.tokens.operator);
    const first = await operator.github.ingest.mutate({ repo: `${owner}/${name}` });
    expect(first.label).toBe("smith");
    expect(first.results.map((r) => [r.ref, r.outcome.kind]).sort()).toEqual([
      [`${owner}/${name}#${a.number}`, "loop-created"],
      [`${owner}/${name}#${c.number}`, "loop-created"],
    ]);
    const second = await operator.github.ingest.mutate({ repo: `${owner}/${name}` });
    expect(second.results.map((r) => r.outcome.kind)).toEqual(["loop-exists", "loop-exists"]);
    const later = await operator.github.ingest.mutate({ repo: `${owner}/${name}`, label: "later" });
    expect(later.results).toHaveLength(1);
    expect((await operator.loops.list.query({})).items).toHaveLength(3);
  });

  test("bad input and missing access: typed errors naming the field, nothing written", async ({ api, github }) => {
    github.createIssue(owner, name, { title: "One", labels: ["smith"] });
    const operator = api.client(api.tokens.operator);
    const keysBefore = (await api.store.client.getAll().prefix(api.store.keys.root).keys()).filter(
      (k) => !k.includes("/audit/"),
    );
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => operator.github.createFromIssue.mutate({ ref: `${owner}/${name}` }), "BAD_REQUEST", "ref"],
      [() => operator.github.createFromIssue.mutate({ ref: `${owner}/${name}#0` }), "BAD_REQUEST", "ref"],
      [() => operator.github.ingest.mutate({ repo: "not a repo" }), "BAD_REQUEST", "repo"],
      [
        () => operator.github.ingest.mutate({ repo: `${owner}/${name}`, label: "x".repeat(51) }),
        "BAD_REQUEST",
        "label",
      ],
      // An issue that does not exist, and a repository this API holds no token for.
      [() => operator.github.createFromIssue.mutate({ ref: `${owner}/${name}#999` }), "NOT_FOUND", "ref"],
      [() => operator.github.ingest.mutate({ repo: "other/repo" }), "SERVICE_UNAVAILABLE", "repo"],
    ];
    for (const [call, code, field] of cases) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      const data = smithCode(err);
      expect(data.code, `${code} for ${field}`).toBe(code);
      expect(JSON.stringify(data), field).toContain(field);
    }
    await expect(
      api.client(api.tokens.viewer).github.ingest.mutate({ repo: `${owner}/${name}` }),
    ).rejects.toMatchObject({ data: { code: "FORBIDDEN" } });
    const keysAfter = (await api.store.client.getAll().prefix(api.store.keys.root).keys()).filter(
      (k) => !k.includes("/audit/"),
    );
    expect(keysAfter).toEqual(keysBefore);
  });
});
