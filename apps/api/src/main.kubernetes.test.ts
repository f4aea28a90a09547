// The real API process with SMITH_CREDENTIALS_BACKEND=kubernetes: env -> kubeconfig -> Secrets in
// a real kube-apiserver, through the ServiceAccount and Role the chart gives the API.
import { CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { freePort } from "@smith/testing";
import { kubeDescribe, kubeTest as test } from "@smith/testing/kube";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const ADMIN_TOKEN = "test-admin-token-0123456789";
const describeKube = await kubeDescribe();

/** A tRPC call over HTTP (superjson's `{json}` envelope), as any client makes it. */
async function call(base: string, path: string, input?: unknown): Promise<{ status: number; body: string }> {
  const init: RequestInit = {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    signal: AbortSignal.timeout(10_000),
  };
  const res =
    input === undefined
      ? await fetch(`${base}/trpc/${path}`, init)
      : await fetch(`${base}/trpc/${path}`, { ...init, method: "POST", body: JSON.stringify({ json: input }) });
  return { status: res.status, body: await res.text() };
}

describeKube("the API process with SMITH_CREDENTIALS_BACKEND=kubernetes", () => {
  test("keeps a credential's value in a Secret of its namespace, reached through KUBECONFIG", async ({
    kube,
    namespace,
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    // The API's ServiceAccount with the chart's Role, as a kubeconfig file.
    const rbac = kube.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: "smith-api" },
        rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "create", "update", "delete"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: "smith-api" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "smith-api" },
        subjects: [{ kind: "ServiceAccount", name: "smith-api", namespace }],
      },
    });
    const kubeconfig = join(tmpDir, "kubeconfig");
    await writeFile(
      kubeconfig,
      kube.kubeConfigForToken(await kube.serviceAccountToken(namespace, "smith-api")).exportConfig(),
      { mode: 0o600 },
    );

    const port = await freePort();
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        SMITH_ETCD_ENDPOINTS: etcdEndpoint,
        SMITH_ETCD_PREFIX: prefix.replace(/\/$/, ""),
        SMITH_API_PORT: String(port),
        SMITH_SIGNING_KEY: "s".repeat(48),
        SMITH_ADMIN_TOKEN: ADMIN_TOKEN,
        SMITH_CREDENTIALS_BACKEND: "kubernetes",
        SMITH_CREDENTIALS_NAMESPACE: namespace,
        KUBECONFIG: kubeconfig,
        SMITH_LOG_LEVEL: "info",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const base = `http://127.0.0.1:${port}`;
    const token = `ghp_${randomBytes(18).toString("hex")}`;
    try {
      const deadline = Date.now() + 30_000;
      const ready = () =>
        fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
          (r) => r.status,
          () => 0,
        );
      while ((await ready()) !== 200) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the API did not start:\n${stderr}`);
        await sleep(200);
      }
      const created = await call(base, "credentials.create", { name: "gh", type: "github-token", value: token });
      expect(created.status, created.body).toBe(200);
      expect(created.body).not.toContain(token);
      const listed = await call(base, "credentials.list");
      expect(listed.body).toMatch(new RegExp(`"secret":"${namespace}/smith-credential-gh-[0-9a-f]{8}"`));
      const secrets = await kube.kubeConfig.makeApiClient(CoreV1Api).listNamespacedSecret({
        namespace,
        labelSelector: "smith.dev/credential=gh",
      });
      expect(secrets.items.map((s) => Buffer.from(s.data?.value ?? "", "base64").toString())).toEqual([token]);
      expect(stderr).toMatch(/credentials backend: Kubernetes Secrets/);
      expect(stderr).not.toContain(token);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    }
  });
});
