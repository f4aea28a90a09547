import { CoreV1Api, type V1PolicyRule } from "@kubernetes/client-node";
import { TRPCClientError } from "@smith/client";
import { KubernetesCredentialSecrets, credentialSecretName } from "@smith/executor/kubernetes";
import type { SmithStore } from "@smith/store";
import { kubeDescribe, kubeTest as test } from "@smith/testing/kube";
import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import { KubernetesCredentialBackend, type CredentialSecretStore } from "./credentials/kubernetesBackend.ts";
import { loopInput, runLoop, startTestApi, type TestApi } from "./testSupport.ts";

const describeKube = await kubeDescribe();

/** What the chart's Role grants the API (helm/smith/templates/rbac.yaml). */
const API_RULES: V1PolicyRule[] = [
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "create", "update", "delete"] },
];

const token = () => `ghp_${randomBytes(18).toString("hex")}`;
const providerKey = () => `sk-ant-${randomBytes(18).toString("hex")}`;

/**
 * Every key and value in Smith's etcd as one string to search: all of it (every prefix, not only
 * this test's) for values, or only this test's prefix (`mine`) for what this test wrote.
 */
async function etcdDump(store: SmithStore, mine = false): Promise<string> {
  const all = await (mine ? store.client.getAll().prefix(store.keys.root) : store.client.getAll()).exec();
  return all.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`).join("\n");
}

function expectNowhere(haystacks: string[], values: string[]): void {
  for (const v of values)
    for (const h of haystacks) {
      expect(h).not.toContain(v);
      expect(h).not.toContain(Buffer.from(v).toString("base64"));
    }
}

async function refusal(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof TRPCClientError)
      return { code: String((err as { data?: { code?: string } }).data?.code), message: err.message };
    throw err;
  }
  throw new Error("expected the call to be refused");
}

/** The credentials the replica of a new running loop on acme/app receives. */
async function replicaGets(api: TestApi) {
  const { loop } = await api.client(api.tokens.operator).loops.create.mutate({
    ...loopInput(),
    spec: { ...loopInput().spec, repo: { url: "https://github.com/acme/app.git" }, agent: { provider: "claude" } },
  });
  const attempt = await runLoop(api, loop.id);
  return api.client(api.replicaToken(loop.id, attempt)).replica.credentials.mutate({ loopId: loop.id });
}

/**
 * The Secrets, with one call cut short as by a crash of the API process: the call named `at`
 * (before: never made; after: made, its answer never arrives). The real Secrets are written.
 */
function crashing(inner: KubernetesCredentialSecrets, at: string, when: "before" | "after"): CredentialSecretStore {
  const never = new Promise<never>(() => undefined);
  const cut =
    <A extends unknown[], R>(name: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (name !== at) return call(...args);
      if (when === "before") return never;
      await call(...args);
      return never;
    };
  return {
    namespace: inner.namespace,
    secretName: (c) => inner.secretName(c),
    read: cut("read", (c) => inner.read(c)),
    create: cut("create", (c, v, ver) => inner.create(c, v, ver)),
    replace: cut("replace", (c, v, ver, rv) => inner.replace(c, v, ver, rv)),
    delete: cut("delete", (c, rv) => inner.delete(c, rv)),
  };
}

describeKube("credentials in Kubernetes Secrets (SMITH_CREDENTIALS_BACKEND=kubernetes)", () => {
  test("create, the replica's read, rotate and revoke go through a Secret; the value is never in etcd nor in an answer", async ({
    kube,
    namespace,
    etcdEndpoint,
    prefix,
  }) => {
    const secrets = new KubernetesCredentialSecrets({
      kubeConfig: await kube.kubeConfigForRules(namespace, API_RULES, "smith-api"),
      namespace,
    });
    // No credentials key at all: the kubernetes backend does not need one.
    const api = await startTestApi(etcdEndpoint, prefix, { credentialSecrets: secrets, credentialsKeyring: undefined });
    const core = kube.kubeConfig.makeApiClient(CoreV1Api);
    const pat = token();
    const key = providerKey();
    const rotatedKey = providerKey();
    try {
      const admin = api.client(api.tokens.admin);
      const answers: unknown[] = [];
      answers.push(
        await admin.credentials.create.mutate({ name: "acme_bot", type: "github-token", value: `${pat}\n` }),
      );
      answers.push(await admin.credentials.create.mutate({ name: "claude", type: "anthropic", value: key }));

      const secret = await core.readNamespacedSecret({ name: credentialSecretName("acme_bot"), namespace });
      expect(secret.metadata?.name).toMatch(/^smith-credential-acme-bot-[0-9a-f]{8}$/);
      expect(secret.type).toBe("Opaque");
      expect(secret.metadata?.labels).toMatchObject({
        "app.kubernetes.io/managed-by": "smith-api",
        "app.kubernetes.io/component": "credential",
        "smith.dev/credential": "acme_bot",
      });
      expect(Buffer.from(secret.data?.value ?? "", "base64").toString()).toBe(pat);
      const listed = await admin.credentials.list.query();
      answers.push(listed);
      expect(listed.find((c) => c.name === "acme_bot")).toMatchObject({
        type: "github-token",
        secret: `${namespace}/${credentialSecretName("acme_bot")}`,
      });
      expect(listed.find((c) => c.name === "acme_bot")?.keyId).toBeUndefined();

      // The replica path: the loop's replica receives both values, read from the Secrets.
      const got = await replicaGets(api);
      expect(got).toEqual({
        git: {
          credential: "acme_bot",
          type: "github-token",
          host: "github.com",
          username: "x-access-token",
          token: pat,
        },
        agent: { credential: "claude", env: { ANTHROPIC_API_KEY: key } },
      });

      // Rotate: the Secret is updated in place; the replica gets the new value.
      const before = await core.readNamespacedSecret({ name: credentialSecretName("claude"), namespace });
      const rotated = await admin.credentials.rotate.mutate({ name: "claude", value: rotatedKey });
      answers.push(rotated);
      expect(rotated.rotatedAt).toBeDefined();
      const after = await core.readNamespacedSecret({ name: credentialSecretName("claude"), namespace });
      expect(after.metadata?.uid).toBe(before.metadata?.uid);
      expect(after.metadata?.resourceVersion).not.toBe(before.metadata?.resourceVersion);
      expect((await replicaGets(api)).agent?.env).toEqual({ ANTHROPIC_API_KEY: rotatedKey });

      const stored = await etcdDump(api.store);
      expect(stored).toContain("/credentials/acme_bot=");
      expectNowhere([stored, JSON.stringify(answers)], [pat, key, rotatedKey]);
      const audit = JSON.stringify(await admin.audit.list.query({ limit: 500 }));
      expectNowhere([audit, await (await fetch(`${api.url}/metrics`)).text()], [pat, key, rotatedKey]);

      // Revoke: the Secret is deleted; the record stays, revoked, without the Secret's name.
      const revoked = await admin.credentials.revoke.mutate({ name: "claude" });
      expect(revoked.revokedAt).toBeDefined();
      await expect(
        core.readNamespacedSecret({ name: credentialSecretName("claude"), namespace }),
      ).rejects.toMatchObject({ code: 404 });
      const gone = (await admin.credentials.list.query()).find((c) => c.name === "claude");
      expect(gone?.revokedAt).toBeDefined();
      expect(gone?.secret).toBeUndefined();
      expect((await replicaGets(api)).agent).toBeUndefined();
      expectNowhere([await etcdDump(api.store)], [pat, key, rotatedKey]);
    } finally {
      await api.close();
    }
  });

  test("an API whose ServiceAccount may not write Secrets answers FORBIDDEN and writes nothing", async ({
    kube,
    namespace,
    etcdEndpoint,
    prefix,
  }) => {
    const readOnly = await kube.kubeConfigForRules(
      namespace,
      [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }],
      "smith-api",
    );
    const api = await startTestApi(etcdEndpoint, prefix, {
      credentialSecrets: new KubernetesCredentialSecrets({ kubeConfig: readOnly, namespace }),
    });
    const pat = token();
    try {
      const admin = api.client(api.tokens.admin);
      const r = await refusal(admin.credentials.create.mutate({ name: "gh", type: "github-token", value: pat }));
      expect(r.code).toBe("FORBIDDEN");
      expect(r.message).toMatch(
        new RegExp(`Kubernetes RBAC does not let the API create Secret ${namespace}/smith-credential-gh-[0-9a-f]{8}`),
      );
      expect(r.message).not.toContain(pat);
      const stored = await etcdDump(api.store, true);
      expect(stored).not.toContain("/credentials/");
      expect(stored).not.toContain("/credential-defaults/");
      expectNowhere([stored], [pat]);
      expect(await admin.credentials.list.query()).toEqual([]);
      // The name and the default scope are free again: an API allowed to write takes them.
      const writer = new KubernetesCredentialSecrets({
        kubeConfig: await kube.kubeConfigForRules(namespace, API_RULES, "smith-api"),
        namespace,
      });
      const ok = await startTestApi(etcdEndpoint, prefix, { credentialSecrets: writer });
      try {
        await ok.client(ok.tokens.admin).credentials.create.mutate({ name: "gh", type: "github-token", value: pat });
        expect((await replicaGets(ok)).git?.token).toBe(pat);
      } finally {
        await ok.close();
      }
    } finally {
      await api.close();
    }
  });

  test("rotate replaces the Secret only at the resourceVersion it read: a Secret changed meanwhile is CONFLICT", async ({
    kube,
    namespace,
    etcdEndpoint,
    prefix,
  }) => {
    const inner = new KubernetesCredentialSecrets({ kubeConfig: kube.kubeConfig, namespace });
    const core = kube.kubeConfig.makeApiClient(CoreV1Api);
    const elsewhere = providerKey();
    // Between rotate's read and its update, someone else rewrites the Secret (kubectl edit).
    const racing: CredentialSecretStore = {
      namespace,
      secretName: (c) => inner.secretName(c),
      read: (c) => inner.read(c),
      create: (c, v, ver) => inner.create(c, v, ver),
      replace: async (c, v, ver, rv) => {
        const name = credentialSecretName(c);
        const current = await core.readNamespacedSecret({ name, namespace });
        await core.replaceNamespacedSecret({
          name,
          namespace,
          body: { ...current, data: { value: Buffer.from(elsewhere).toString("base64") } },
        });
        return inner.replace(c, v, ver, rv);
      },
      delete: (c, rv) => inner.delete(c, rv),
    };
    const api = await startTestApi(etcdEndpoint, prefix, { credentialSecrets: racing });
    const key = providerKey();
    const lost = providerKey();
    try {
      const admin = api.client(api.tokens.admin);
      await admin.credentials.create.mutate({ name: "claude", type: "anthropic", value: key });
      const r = await refusal(admin.credentials.rotate.mutate({ name: "claude", value: lost }));
      expect(r).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/changed meanwhile/) });
      expect(r.message).not.toContain(lost);
      const secret = await core.readNamespacedSecret({ name: credentialSecretName("claude"), namespace });
      expect(Buffer.from(secret.data?.value ?? "", "base64").toString()).toBe(elsewhere);
      const record = (await api.store.credentials.get("claude"))?.record;
      expect(record?.kubeSecret?.pending).toBeUndefined();
      expect(record?.rotatedAt).toBeUndefined();
      expectNowhere([await etcdDump(api.store)], [key, lost, elsewhere]);
    } finally {
      await api.close();
    }
  });

  test("a crash between the Secret write and the etcd write loses no value and leaves none behind", async ({
    kube,
    namespace,
    etcdEndpoint,
    prefix,
  }) => {
    const secrets = new KubernetesCredentialSecrets({ kubeConfig: kube.kubeConfig, namespace });
    const core = kube.kubeConfig.makeApiClient(CoreV1Api);
    const secretOf = (name: string) =>
      core.readNamespacedSecret({ name: credentialSecretName(name), namespace }).then(
        (s) => Buffer.from(s.data?.value ?? "", "base64").toString(),
        (err: unknown) => {
          if ((err as { code?: number }).code === 404) return undefined;
          throw err;
        },
      );
    // The API that survives: it reconciles on read, and takes a write left pending 1 s for dead.
    const api = await startTestApi(etcdEndpoint, prefix, {
      credentialSecrets: secrets,
      credentialSecretsOptions: { pendingGraceMs: 1_000 },
    });
    const crashed = (at: string, when: "before" | "after") =>
      new KubernetesCredentialBackend(api.store, crashing(secrets, at, when));
    const meta = (name: string, type: "github-token" | "anthropic") => ({
      schemaVersion: 1 as const,
      name,
      type,
      scope: type === "github-token" ? { host: "github.com", default: true } : { default: true },
      createdAt: new Date().toISOString(),
      createdBy: "test",
    });
    const admin = api.client(api.tokens.admin);
    const values: string[] = [];
    try {
      // create: the Secret was written, the record never committed -> the value is the credential's.
      const pat = token();
      values.push(pat);
      void crashed("create", "after").create(meta("gh", "github-token"), pat);
      await expect.poll(() => secretOf("gh"), { timeout: 10_000 }).toBe(pat);
      expect((await replicaGets(api)).git?.token).toBe(pat);
      const [gh] = await admin.credentials.list.query();
      expect(gh).toMatchObject({ name: "gh", secret: `${namespace}/${credentialSecretName("gh")}` });
      expect((await api.store.credentials.get("gh"))?.record.kubeSecret?.pending).toBeUndefined();

      // create: the API died before the Secret was written -> within the grace the name is taken,
      // after it the record is rolled back: no record, no Secret, the name is free.
      const lost = providerKey();
      values.push(lost);
      void crashed("create", "before").create(meta("claude", "anthropic"), lost);
      await expect.poll(() => api.store.credentials.get("claude"), { timeout: 10_000 }).toBeDefined();
      const busy = await refusal(replicaGets(api));
      expect(busy).toMatchObject({
        code: "CONFLICT",
        message: expect.stringMatching(/credential claude is being written/),
      });
      await new Promise((r) => setTimeout(r, 1_100));
      expect((await admin.credentials.list.query()).map((c) => c.name)).toEqual(["gh"]);
      expect(await api.store.credentials.get("claude")).toBeUndefined();
      expect(await secretOf("claude")).toBeUndefined();
      const key = providerKey();
      values.push(key);
      await admin.credentials.create.mutate({ name: "claude", type: "anthropic", value: key });

      // rotate: the Secret was replaced, the record never committed -> the new value serves.
      const pat2 = token();
      values.push(pat2);
      const current = await api.store.credentials.get("gh");
      if (!current) throw new Error("gh is gone");
      void crashed("replace", "after").rotate(current, pat2, "test");
      await expect.poll(() => secretOf("gh"), { timeout: 10_000 }).toBe(pat2);
      expect((await replicaGets(api)).git?.token).toBe(pat2);
      expect((await admin.credentials.list.query()).find((c) => c.name === "gh")?.rotatedAt).toBeDefined();

      // rotate: the API died before replacing the Secret -> the old value serves; the mark goes.
      const unused = providerKey();
      values.push(unused);
      const claude = await api.store.credentials.get("claude");
      if (!claude) throw new Error("claude is gone");
      void crashed("replace", "before").rotate(claude, unused, "test");
      await expect
        .poll(async () => (await api.store.credentials.get("claude"))?.record.kubeSecret?.pending, { timeout: 10_000 })
        .toBeDefined();
      expect((await replicaGets(api)).agent?.env).toEqual({ ANTHROPIC_API_KEY: key });
      await new Promise((r) => setTimeout(r, 1_100));
      await admin.credentials.list.query();
      expect((await api.store.credentials.get("claude"))?.record.kubeSecret?.pending).toBeUndefined();
      expect(await secretOf("claude")).toBe(key);

      // revoke: the record was revoked, the Secret not yet deleted -> the next list deletes it.
      void crashed("delete", "before").revoke("claude", "test");
      await expect
        .poll(async () => (await api.store.credentials.get("claude"))?.record.revokedAt, { timeout: 10_000 })
        .toBeDefined();
      expect(await secretOf("claude")).toBe(key);
      expect((await replicaGets(api)).agent).toBeUndefined();
      await admin.credentials.list.query();
      expect(await secretOf("claude")).toBeUndefined();
      expect((await api.store.credentials.get("claude"))?.record.kubeSecret).toBeUndefined();

      expectNowhere([await etcdDump(api.store)], values);
    } finally {
      await api.close();
    }
  });
});
