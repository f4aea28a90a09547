import { TRPCClientError } from "@smith/client";
import { CredentialKeyring, type SmithStore } from "@smith/store";
import { GitHubServer } from "@smith/testing/standalone";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, expect } from "vitest";
import { apiTest } from "./fixtures.ts";
import { loopInput, runLoop, startTestApi, type TestApi } from "./testSupport.ts";

const PAT = `ghp_${randomBytes(18).toString("hex")}`;
const ANTHROPIC = `sk-ant-${randomBytes(18).toString("hex")}`;

/** Every key and value under the test's prefix, as one string to search. */
async function etcdDump(store: SmithStore): Promise<string> {
  const all = await store.client.getAll().prefix(store.keys.root).exec();
  return all.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`).join("\n");
}

async function refusal(call: Promise<unknown>): Promise<{ code: string; message: string; data: unknown }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof TRPCClientError) {
      const data = (err as { data?: { code?: string } }).data;
      return { code: String(data?.code), message: err.message, data };
    }
    throw err;
  }
  throw new Error("expected the call to be refused");
}

async function loopKeys(api: TestApi): Promise<number> {
  return (await api.store.client.getAll().prefix(api.store.keys.loopsPrefix()).keys()).length;
}

describe("credentials API", () => {
  apiTest(
    "a value goes in and never comes out: not in answers, etcd, the audit log or the metrics",
    async ({ api }) => {
      const admin = api.client(api.tokens.admin);
      const created = await admin.credentials.create.mutate({
        name: "acme-bot",
        type: "github-token",
        value: `${PAT}\n`,
        scope: { owner: "acme" },
      });
      expect(created).toMatchObject({
        name: "acme-bot",
        type: "github-token",
        scope: { host: "github.com", owner: "acme", default: true },
        createdBy: "bootstrap admin",
      });
      await admin.credentials.create.mutate({ name: "claude", type: "anthropic", value: ANTHROPIC });
      const rotated = await admin.credentials.rotate.mutate({ name: "claude", value: `${ANTHROPIC}-2` });
      expect(rotated.rotatedAt).toBeDefined();
      const listed = await admin.credentials.list.query();
      expect(listed.map((c) => c.name).sort()).toEqual(["acme-bot", "claude"]);
      for (const c of listed) expect(Object.keys(c)).not.toContain("sealed");

      const answers = JSON.stringify([created, rotated, listed]);
      const stored = await etcdDump(api.store);
      const audit = JSON.stringify(await admin.audit.list.query({ limit: 500 }));
      const metrics = await (await fetch(`${api.url}/metrics`)).text();
      for (const secret of [PAT, ANTHROPIC]) {
        expect(answers).not.toContain(secret);
        expect(stored).not.toContain(secret);
        expect(stored).not.toContain(Buffer.from(secret).toString("base64"));
        expect(audit).not.toContain(secret);
        expect(metrics).not.toContain(secret);
      }
      expect(stored).toContain("/credentials/acme-bot=");
      expect(audit).toContain("credentials.create");
    },
  );

  apiTest("a viewer or operator creating a credential is FORBIDDEN and nothing is written", async ({ api }) => {
    for (const token of [api.tokens.viewer, api.tokens.operator]) {
      const r = await refusal(
        api.client(token).credentials.create.mutate({ name: "x", type: "github-token", value: PAT }),
      );
      expect(r.code).toBe("FORBIDDEN");
      expect(r.message).not.toContain(PAT);
    }
    expect(await etcdDump(api.store)).not.toContain("/credentials/");
    expect(await etcdDump(api.store)).not.toContain(PAT);
  });

  apiTest("bad input is a typed error naming the field, never echoing the value", async ({ api }) => {
    const admin = api.client(api.tokens.admin);
    const bad = await refusal(
      admin.credentials.create.mutate({ name: "x", type: "github-token", value: `two ${PAT}` }),
    );
    expect(bad).toMatchObject({ code: "BAD_REQUEST" });
    expect(bad.message).toMatch(/^value: /);
    expect(JSON.stringify(bad)).not.toContain(PAT);
    const key = await refusal(
      admin.credentials.create.mutate({
        name: "app",
        type: "github-app",
        value: "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key\n-----END RSA PRIVATE KEY-----",
        app: { appId: 1 },
      }),
    );
    expect(key.message).toMatch(/value: the github-app value is not a PEM private key/);
    expect(key.message).not.toContain("not-a-key");

    await admin.credentials.create.mutate({ name: "one", type: "github-token", value: PAT, scope: { owner: "acme" } });
    expect(
      await refusal(admin.credentials.create.mutate({ name: "one", type: "github-token", value: PAT })),
    ).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/^name: credential one already exists/) });
    const scope = await refusal(
      admin.credentials.create.mutate({ name: "two", type: "github-token", value: PAT, scope: { owner: "ACME" } }),
    );
    expect(scope).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/^scope: credential one/) });
    expect((await admin.credentials.list.query()).map((c) => c.name)).toEqual(["one"]);
    expect(await refusal(admin.credentials.rotate.mutate({ name: "nope", value: PAT }))).toMatchObject({
      code: "NOT_FOUND",
    });
  });

  apiTest(
    "loops.create refuses an unknown credential and a credential-bearing URL, storing nothing",
    async ({ api }) => {
      const operator = api.client(api.tokens.operator);
      const admin = api.client(api.tokens.admin);
      await admin.credentials.create.mutate({ name: "openai", type: "openai", value: "sk-openai-x" });
      await admin.credentials.create.mutate({ name: "gh", type: "github-token", value: PAT });
      const base = loopInput();
      const before = await etcdDump(api.store);
      const cases: [Parameters<typeof operator.loops.create.mutate>[0], string, RegExp][] = [
        [
          { ...base, spec: { ...base.spec, repo: { url: `https://x-access-token:${PAT}@github.com/acme/app.git` } } },
          "BAD_REQUEST",
          /^spec\.repo\.url: must not embed credentials/,
        ],
        [
          { ...base, spec: { ...base.spec, repo: { url: "https://github.com/acme/app.git", credential: "nope" } } },
          "NOT_FOUND",
          /^spec\.repo\.credential: credential nope does not exist/,
        ],
        [
          { ...base, spec: { ...base.spec, repo: { url: "https://evil.example/acme/app.git", credential: "gh" } } },
          "BAD_REQUEST",
          /^spec\.repo\.credential: credential gh is for github\.com; the repository is on evil\.example/,
        ],
        [
          { ...base, spec: { ...base.spec, agent: { provider: "claude", credential: "openai" } } },
          "BAD_REQUEST",
          /^spec\.agent\.credential: credential openai is an openai key; provider claude needs anthropic/,
        ],
      ];
      for (const [input, code, message] of cases) {
        const r = await refusal(operator.loops.create.mutate(input));
        expect(r.code).toBe(code);
        expect(r.message).toMatch(message);
        expect(JSON.stringify(r)).not.toContain(PAT);
      }
      const batch = await refusal(
        operator.loops.createBatch.mutate({
          items: [base, { ...base, spec: { ...base.spec, repo: { url: base.spec.repo.url, credential: "nope" } } }],
        }),
      );
      expect(batch.message).toMatch(/^items\[1\]\.spec\.repo\.credential/);
      expect(await loopKeys(api)).toBe(0);
      const after = await etcdDump(api.store);
      expect(after.split("\n").filter((l) => !l.includes("/audit"))).toEqual(
        before.split("\n").filter((l) => !l.includes("/audit")),
      );
      expect(after).not.toContain(PAT);
    },
  );

  apiTest(
    "the replica of a running loop gets its git token and provider key; a stale attempt gets CONFLICT",
    async ({ api }) => {
      const admin = api.client(api.tokens.admin);
      await admin.credentials.create.mutate({
        name: "acme",
        type: "github-token",
        value: PAT,
        scope: { owner: "acme" },
      });
      await admin.credentials.create.mutate({ name: "everyone", type: "github-token", value: "ghp_other" });
      await admin.credentials.create.mutate({ name: "claude", type: "anthropic", value: ANTHROPIC });
      const { loop } = await api.client(api.tokens.operator).loops.create.mutate({
        ...loopInput(),
        spec: { ...loopInput().spec, repo: { url: "https://github.com/Acme/app.git" }, agent: { provider: "claude" } },
      });
      const attempt = await runLoop(api, loop.id);
      const r = api.client(api.replicaToken(loop.id, attempt));
      expect(await r.replica.credentials.mutate({ loopId: loop.id })).toEqual({
        git: { credential: "acme", type: "github-token", host: "github.com", username: "x-access-token", token: PAT },
        agent: { credential: "claude", env: { ANTHROPIC_API_KEY: ANTHROPIC } },
      });
      const used = await admin.credentials.list.query();
      expect(used.find((c) => c.name === "acme")?.lastUsedAt).toBeDefined();
      expect(used.find((c) => c.name === "everyone")?.lastUsedAt).toBeUndefined();

      // A loop no longer running hands out nothing; a later attempt's token is the only one that works.
      await api.store.loops.transition(loop.id, { type: "replicaLost", attempt, at: new Date().toISOString() });
      expect((await refusal(r.replica.credentials.mutate({ loopId: loop.id }))).code).toBe("PRECONDITION_FAILED");
      const again = await runLoop(api, loop.id);
      expect((await refusal(r.replica.credentials.mutate({ loopId: loop.id }))).code).toBe("CONFLICT");
      const other = api.client(api.replicaToken("0".repeat(26), again));
      expect((await refusal(other.replica.credentials.mutate({ loopId: loop.id }))).code).toBe("FORBIDDEN");

      // Revoked: the owner-less default takes over.
      await admin.credentials.revoke.mutate({ name: "acme" });
      const r2 = api.client(api.replicaToken(loop.id, again));
      const git = await r2.replica.credentials.mutate({ loopId: loop.id });
      expect(git.git?.credential).toBe("everyone");
      expect(await etcdDump(api.store)).not.toContain(PAT);
    },
  );

  apiTest(
    "a GitHub App credential mints an installation token per call, scoped to the repository",
    async ({ etcdEndpoint, prefix }) => {
      const github = await GitHubServer.start();
      const api = await startTestApi(etcdEndpoint, prefix, { githubApiUrl: github.apiUrl });
      try {
        await github.createRepository("acme", "app");
        await github.createRepository("acme", "other");
        const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
        const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
        github.addApp({
          appId: 4242,
          privateKeyPem: pem,
          installations: [{ id: 77, account: "acme", repositories: ["acme/app", "acme/other"] }],
        });
        const admin = api.client(api.tokens.admin);
        await admin.credentials.create.mutate({
          name: "acme-app",
          type: "github-app",
          value: pem,
          app: { appId: 4242 },
          scope: { host: github.host, owner: "acme" },
        });
        const { loop } = await api.client(api.tokens.operator).loops.create.mutate({
          ...loopInput(),
          spec: { ...loopInput().spec, repo: { url: github.cloneUrl("acme", "app"), credential: "acme-app" } },
        });
        const attempt = await runLoop(api, loop.id);
        const r = api.client(api.replicaToken(loop.id, attempt));
        const first = await r.replica.credentials.mutate({ loopId: loop.id });
        const second = await r.replica.credentials.mutate({ loopId: loop.id });
        expect(first.git).toMatchObject({ type: "github-app", username: "x-access-token", credential: "acme-app" });
        expect(first.git?.token).toMatch(/^ghs_/);
        expect(second.git?.token).not.toBe(first.git?.token);
        expect([...(github.state.tokens.get(first.git?.token ?? "")?.repositories ?? [])]).toEqual(["acme/app"]);
        expect(github.restCalls.map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([
          "GET /repos/acme/app/installation 200",
          "POST /app/installations/77/access_tokens 201",
          "GET /repos/acme/app/installation 200",
          "POST /app/installations/77/access_tokens 201",
        ]);

        // Not installed on the repository: a typed error naming the credential, not the key.
        await github.createRepository("acme", "nope");
        const { loop: elsewhere } = await api.client(api.tokens.operator).loops.create.mutate({
          ...loopInput(),
          spec: { ...loopInput().spec, repo: { url: github.cloneUrl("acme", "nope") } },
        });
        const a2 = await runLoop(api, elsewhere.id);
        const failed = await refusal(
          api.client(api.replicaToken(elsewhere.id, a2)).replica.credentials.mutate({ loopId: elsewhere.id }),
        );
        expect(failed.message).toMatch(
          /credential acme-app: no installation token for acme\/nope: GitHub answered 404/,
        );
        const keyBody = pem.split("\n")[1] ?? "";
        expect(JSON.stringify(failed)).not.toContain(keyBody);
        expect(await etcdDump(api.store)).not.toContain(keyBody);
      } finally {
        await api.close();
        await github.close();
      }
    },
  );
  apiTest(
    "rotating SMITH_CREDENTIALS_KEY: old values open with the previous key until resealed",
    async ({ etcdEndpoint, prefix }) => {
      const keyA = randomBytes(32);
      const keyB = randomBytes(32);
      const apiA = await startTestApi(etcdEndpoint, prefix, { credentialsKeyring: new CredentialKeyring(keyA) });
      await apiA
        .client(apiA.tokens.admin)
        .credentials.create.mutate({ name: "k", type: "anthropic", value: ANTHROPIC });
      const idA = (await apiA.client(apiA.tokens.admin).credentials.list.query())[0]?.keyId;
      await apiA.close();

      const rotated = await startTestApi(etcdEndpoint, prefix, {
        credentialsKeyring: new CredentialKeyring(keyB, [keyA]),
      });
      try {
        const admin = rotated.client(rotated.tokens.admin);
        const resolve = async (api: TestApi) => {
          const { loop } = await api.client(api.tokens.operator).loops.create.mutate({
            ...loopInput(),
            spec: { ...loopInput().spec, agent: { provider: "claude" } },
          });
          const attempt = await runLoop(api, loop.id);
          return api.client(api.replicaToken(loop.id, attempt)).replica.credentials.mutate({ loopId: loop.id });
        };
        expect((await resolve(rotated)).agent?.env).toEqual({ ANTHROPIC_API_KEY: ANTHROPIC });
        expect(await admin.credentials.reseal.mutate()).toEqual({ resealed: 1, current: 0, skipped: [] });
        expect(await admin.credentials.reseal.mutate()).toEqual({ resealed: 0, current: 1, skipped: [] });
        const idB = (await admin.credentials.list.query())[0]?.keyId;
        expect(idB).not.toBe(idA);

        const onlyB = await startTestApi(etcdEndpoint, prefix, { credentialsKeyring: new CredentialKeyring(keyB) });
        try {
          expect((await resolve(onlyB)).agent?.env).toEqual({ ANTHROPIC_API_KEY: ANTHROPIC });
        } finally {
          await onlyB.close();
        }
        const onlyA = await startTestApi(etcdEndpoint, prefix, { credentialsKeyring: new CredentialKeyring(keyA) });
        try {
          const r = await refusal(resolve(onlyA));
          expect(r.code).toBe("SERVICE_UNAVAILABLE");
          expect(r.message).toMatch(new RegExp(`sealed with credentials key ${idB}, which this API does not have`));
        } finally {
          await onlyA.close();
        }
      } finally {
        await rotated.close();
      }
    },
  );
});
