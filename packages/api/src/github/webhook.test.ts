import { GitHubServer, etcdTest } from "@smith/testing";
import { describe, expect } from "vitest";
import { startTestApi, type TestApi } from "../testSupport.ts";

const SECRET = "webhook-secret-for-tests";
const owner = "acme";
const name = "widgets";

/** A real API (over the file's etcd, with GitHub configured) and a test GitHub, per test. */
const test = etcdTest
  .extend("github", async ({ task: _task }, { onCleanup }) => {
    const github = await GitHubServer.start();
    onCleanup(() => github.close());
    await github.createRepository(owner, name);
    github.addCollaborator(owner, name, "writer", "WRITE");
    github.addCollaborator(owner, name, "reader", "READ");
    return github;
  })
  .extend("api", async ({ etcdEndpoint, prefix, github }, { onCleanup }) => {
    const token = github.createToken("smith-bot", { permission: "WRITE" });
    const api = await startTestApi(etcdEndpoint, prefix, {
      github: {
        webhookSecret: SECRET,
        apiUrl: github.apiUrl,
        token: async () => token,
        loopTemplate: { agent: { provider: "replay" }, qualityGates: ["true"] },
      },
    });
    onCleanup(() => api.close());
    return api;
  });

const hookUrl = (api: TestApi) => `${api.url}/webhooks/github`;

async function keys(api: TestApi, prefix: string, except = "/audit"): Promise<string[]> {
  const all = await api.store.client.getAll().prefix(prefix).keys();
  return all.filter((k) => !k.startsWith(`${prefix.replace(/\/$/, "")}${except}`));
}

async function loops(api: TestApi) {
  return (await api.client(api.tokens.admin).loops.list.query({})).items;
}

describe("POST /webhooks/github", () => {
  test("a labeled issue makes one loop; the same delivery again and a later event for the issue make none", async ({
    api,
    github,
  }) => {
    const issue = github.createIssue(owner, name, { title: "Add widgets", body: "please", labels: ["smith"] });
    const payload = github.issuesPayload(owner, name, issue.number, "labeled", "smith");
    const first = await github.sendWebhook({ url: hookUrl(api), secret: SECRET, event: "issues", payload });
    expect(first.status).toBe(202);
    expect(JSON.parse(first.body)).toMatchObject({ ok: true, outcome: expect.stringMatching(/^loop-created /) });
    const [loop, ...others] = await loops(api);
    expect(others).toEqual([]);
    expect(loop).toMatchObject({
      source: { type: "github_issue", ref: `${owner}/${name}#${issue.number}` },
      idempotencyKey: `github:${owner}/${name}#${issue.number}`,
      spec: {
        title: "Add widgets",
        repo: { url: github.cloneUrl(owner, name), baseBranch: "main" },
        prd: { kind: "issue", path: ".agents/tasks/prd.json" },
        agent: { provider: "replay" },
        qualityGates: ["true"],
      },
    });

    const replay = await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      payload,
      deliveryId: first.deliveryId,
    });
    expect(replay.status).toBe(200);
    expect(JSON.parse(replay.body).outcome).toMatch(/duplicate/);
    const reopened = await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      payload: github.issuesPayload(owner, name, issue.number, "reopened"),
    });
    expect(JSON.parse(reopened.body).outcome).toBe(`loop-exists ${loop?.id}`);
    expect(await loops(api)).toHaveLength(1);
    const delivery = await api.store.webhooks.get(first.deliveryId);
    expect(delivery).toMatchObject({ state: "done", event: "issues", outcome: `loop-created ${loop?.id}` });
  });

  test("an issue without the label, or a closed action, makes nothing", async ({ api, github }) => {
    const plain = github.createIssue(owner, name, { title: "Unrelated", labels: ["bug"] });
    const a = await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      payload: github.issuesPayload(owner, name, plain.number, "opened"),
    });
    expect(JSON.parse(a.body).outcome).toBe("ignored: no `smith` label");
    const labeled = github.createIssue(owner, name, { title: "x", labels: ["smith"] });
    const b = await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      payload: github.issuesPayload(owner, name, labeled.number, "closed"),
    });
    expect(JSON.parse(b.body).outcome).toBe("ignored: action closed");
    expect(await loops(api)).toEqual([]);
  });

  test("a delivery of an event older than the replay window is refused by its age: no loop, no delivery record", async ({
    api,
    github,
  }) => {
    const issue = github.createIssue(owner, name, { title: "Old", labels: ["smith"] });
    const payload = github.issuesPayload(owner, name, issue.number, "labeled", "smith") as {
      issue: Record<string, unknown>;
    };
    payload.issue.updated_at = new Date(Date.now() - 8 * 24 * 3600_000).toISOString();
    const r = await github.sendWebhook({ url: hookUrl(api), secret: SECRET, event: "issues", payload });
    expect(r.status).toBe(202);
    expect(JSON.parse(r.body).outcome).toMatch(
      /^ignored: the event is from .*, older than the replay window of 168 h$/,
    );
    expect(await loops(api)).toEqual([]);
    expect(await api.store.webhooks.get(r.deliveryId)).toBeUndefined();
    // The same event, recent: taken.
    payload.issue.updated_at = new Date().toISOString();
    const fresh = await github.sendWebhook({ url: hookUrl(api), secret: SECRET, event: "issues", payload });
    expect(JSON.parse(fresh.body).outcome).toMatch(/^loop-created /);
  });

  test("a forged or missing signature is 401 and writes nothing but an audit event", async ({
    api,
    github,
    prefix,
  }) => {
    const issue = github.createIssue(owner, name, { title: "x", labels: ["smith"] });
    const payload = github.issuesPayload(owner, name, issue.number, "opened");
    const before = await keys(api, prefix);
    const forged = await github.sendWebhook({
      url: hookUrl(api),
      secret: "not-the-secret",
      event: "issues",
      payload,
    });
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body)).toEqual({
      error: { code: "unauthenticated", message: "the X-Hub-Signature-256 signature is missing or wrong" },
    });
    const missing = await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      payload,
      signature: null,
    });
    expect(missing.status).toBe(401);
    expect(await loops(api)).toEqual([]);
    expect(await keys(api, prefix)).toEqual(before);
    const audit = await api.store.audit.list({});
    const denied = audit.items.filter((e) => e.action === "webhooks.github");
    expect(denied.map((e) => [e.outcome, e.reason])).toEqual([
      ["denied", "the signature does not match"],
      ["denied", "no X-Hub-Signature-256"],
    ]);
    expect(denied[0]?.details).toMatchObject({ event: "issues", delivery: forged.deliveryId });
  });

  test("a 2 MiB body and malformed JSON are typed errors naming the field and limit; nothing is written", async ({
    api,
    github,
    prefix,
  }) => {
    const before = await keys(api, prefix, "/never");
    const big = await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      rawBody: JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }),
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body)).toEqual({
      error: {
        code: "too_large",
        message: `body is ${2 * 1024 * 1024 + 10} bytes; the limit is 1048576 bytes`,
        field: "body",
        limit: 1048576,
      },
    });
    const malformed = await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      rawBody: "{not json",
    });
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body).error).toMatchObject({ code: "invalid_argument", field: "body" });
    const wrongShape = await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      payload: { action: "opened", issue: { number: "seven" } },
    });
    expect(wrongShape.status).toBe(400);
    expect(JSON.parse(wrongShape.body).error).toMatchObject({ code: "invalid_argument", field: "issue.number" });
    expect(await keys(api, prefix, "/never")).toEqual(before);
  });

  test("/smith steer and cancel from a user with write access act, audited with the GitHub login; a reader is refused", async ({
    api,
    github,
  }) => {
    const issue = github.createIssue(owner, name, { title: "x", labels: ["smith"] });
    await github.sendWebhook({
      url: hookUrl(api),
      secret: SECRET,
      event: "issues",
      payload: github.issuesPayload(owner, name, issue.number, "opened"),
    });
    const [loop] = await loops(api);
    const comment = async (author: string, body: string) =>
      JSON.parse(
        (
          await github.sendWebhook({
            url: hookUrl(api),
            secret: SECRET,
            event: "issue_comment",
            payload: github.issueCommentPayload(owner, name, issue.number, { author, body }),
          })
        ).body,
      ) as { outcome: string };

    expect((await comment("reader", "/smith steer do it differently")).outcome).toMatch(
      /^denied: reader has READ access to acme\/widgets; write access is needed/,
    );
    expect((await comment("stranger", "/smith cancel")).outcome).toMatch(/^denied: stranger has no access/);
    expect((await comment("writer", "looks good")).outcome).toBe("ignored: not a /smith command");
    expect((await comment("writer", "/smith steer use the v2 API")).outcome).toBe(`steer ${loop?.id}`);
    const admin = api.client(api.tokens.admin);
    const steered = await admin.loops.get.query({ id: loop?.id ?? "" });
    expect(steered.steering.map((s) => [s.actor, s.message])).toEqual([["github:writer (github)", "use the v2 API"]]);
    expect((await comment("writer", "/smith cancel not needed any more")).outcome).toBe(`cancel ${loop?.id}`);
    const cancelled = await admin.loops.get.query({ id: loop?.id ?? "" });
    expect(cancelled.status).toMatchObject({ state: "cancelled", message: "not needed any more" });
    const audit = (await api.store.audit.list({ loopId: loop?.id })).items.filter((e) => e.details.via === "github");
    expect(audit.map((e) => [e.action, e.actor.id, e.outcome])).toEqual([
      ["loops.steer", "github:reader", "denied"],
      ["loops.cancel", "github:stranger", "denied"],
      ["loops.steer", "github:writer", "ok"],
      ["loops.cancel", "github:writer", "ok"],
    ]);
  });

  test("without a configured secret the endpoint does not exist", async ({ etcdEndpoint, prefix, github }) => {
    const api = await startTestApi(etcdEndpoint, `${prefix}x/`);
    try {
      const res = await github.sendWebhook({ url: hookUrl(api), secret: SECRET, event: "issues", payload: {} });
      expect(res.status).toBe(404);
    } finally {
      await api.close();
    }
  });
});
