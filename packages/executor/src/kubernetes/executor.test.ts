import { BatchV1Api, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { Loop, SCHEMA_VERSION, ZERO_COST, isSmithError, newId, type ReplicaStatus } from "@smith/core";
import { kubeDescribe, kubeTest as test, setJobStatus } from "@smith/testing/kube";
import { expect, vi } from "vitest";
import { KubernetesJobExecutor, type KubernetesJobExecutorOptions } from "./executor.ts";

const describeKube = await kubeDescribe();

function loop(timeoutMs = 600_000): Loop {
  const now = new Date().toISOString();
  return Loop.parse({
    schemaVersion: SCHEMA_VERSION,
    id: newId(),
    source: { type: "direct" },
    spec: { repo: { url: "https://example.com/repo.git" }, prd: { kind: "path" }, limits: { timeoutMs } },
    priority: 100,
    concurrencyKey: "example.com-repo",
    status: {
      state: "running",
      attempt: 1,
      iteration: 0,
      progress: { done: 0, total: 0 },
      createdAt: now,
      updatedAt: now,
    },
    cost: ZERO_COST,
  });
}

function executor(
  kubeConfig: KubeConfig,
  namespace: string,
  options: Partial<KubernetesJobExecutorOptions> = {},
): KubernetesJobExecutor {
  return new KubernetesJobExecutor({
    kubeConfig,
    namespace,
    image: "registry.example.com/smith-replica:test",
    apiUrl: "http://smith-api:7070",
    serviceAccountName: "smith-replica",
    providerSecretName: "smith-providers",
    watchRetryMs: 200,
    ...options,
  });
}

async function statusEventually(
  ex: KubernetesJobExecutor,
  id: string,
  phase: ReplicaStatus["phase"],
): Promise<ReplicaStatus> {
  return vi.waitFor(
    async () => {
      const s = await ex.status({ kind: "kubernetes", id });
      if (s.phase !== phase) throw new Error(`phase is ${s.phase}, waiting for ${phase}`);
      return s;
    },
    { timeout: 10_000, interval: 50 },
  );
}

const notFound = (err: unknown) => typeof err === "object" && err !== null && "code" in err && err.code === 404;

describeKube("KubernetesJobExecutor against a real kube-apiserver", () => {
  test("creates a Job the API server accepts, and its token Secret owned by the Job", async ({ kube, namespace }) => {
    const ex = executor(kube.kubeConfig, namespace);
    try {
      const l = loop();
      const handle = await ex.start({ loop: l, attempt: 1, token: "tok-1" });
      expect(handle).toEqual({ kind: "kubernetes", id: `smith-${l.id}-1`, instance: `kubernetes/${namespace}` });

      const job = await kube.kubeConfig.makeApiClient(BatchV1Api).readNamespacedJob({ name: handle.id, namespace });
      expect(job.metadata?.labels).toMatchObject({
        "app.kubernetes.io/name": "smith",
        "app.kubernetes.io/component": "replica",
        "smith.dev/loop-id": l.id,
        "smith.dev/attempt": "1",
      });
      // Defaulted and validated by the server, as stored:
      expect(job.spec).toMatchObject({
        backoffLimit: 0,
        activeDeadlineSeconds: 900,
        ttlSecondsAfterFinished: 3600,
        completions: 1,
      });
      const pod = job.spec?.template.spec;
      expect(pod).toMatchObject({
        serviceAccountName: "smith-replica",
        automountServiceAccountToken: false,
        restartPolicy: "Never",
      });
      expect(pod?.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        fsGroup: 1000,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(pod?.containers[0]?.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(pod?.containers[0]?.envFrom).toEqual([{ secretRef: { name: "smith-providers", optional: true } }]);
      expect(JSON.stringify(job)).not.toContain("tok-1");

      const secret = await kube.kubeConfig
        .makeApiClient(CoreV1Api)
        .readNamespacedSecret({ name: `${handle.id}-token`, namespace });
      expect(Buffer.from(secret.data?.token ?? "", "base64").toString()).toBe("tok-1");
      expect(secret.immutable).toBe(true);
      expect(secret.metadata?.ownerReferences).toEqual([
        { apiVersion: "batch/v1", kind: "Job", name: handle.id, uid: job.metadata?.uid, controller: true },
      ]);

      // No Job controller runs here: nothing has started the Pod.
      expect(await ex.status(handle)).toEqual({ phase: "pending" });
    } finally {
      await ex.close();
    }
  });

  test("status follows the Job's conditions as the Job controller writes them, through the watch", async ({
    kube,
    namespace,
  }) => {
    const ex = executor(kube.kubeConfig, namespace);
    try {
      const a = await ex.start({ loop: loop(), attempt: 1, token: "a" });
      const b = await ex.start({ loop: loop(), attempt: 3, token: "b" });
      expect(await ex.status(a)).toEqual({ phase: "pending" });
      expect(ex.watching).toBe(true);

      await setJobStatus(kube.kubeConfig, namespace, a.id, "running");
      await statusEventually(ex, a.id, "running");
      await setJobStatus(kube.kubeConfig, namespace, a.id, "complete");
      expect(await statusEventually(ex, a.id, "succeeded")).toEqual({ phase: "succeeded", exitCode: 0 });

      await setJobStatus(kube.kubeConfig, namespace, b.id, "running");
      await setJobStatus(kube.kubeConfig, namespace, b.id, "failed", {
        reason: "DeadlineExceeded",
        message: "Job was active longer than specified deadline",
      });
      expect(await statusEventually(ex, b.id, "failed")).toEqual({
        phase: "failed",
        message: "DeadlineExceeded: Job was active longer than specified deadline",
      });

      expect(await ex.status({ kind: "kubernetes", id: "smith-nosuchjob-1" })).toMatchObject({ phase: "unknown" });
      expect(await ex.status({ kind: "local", id: a.id })).toMatchObject({ phase: "unknown" });
    } finally {
      await ex.close();
    }
  });

  test("stop deletes the Job and its Secret (no garbage collector runs here); stopping twice is fine", async ({
    kube,
    namespace,
  }) => {
    const ex = executor(kube.kubeConfig, namespace);
    try {
      const handle = await ex.start({ loop: loop(), attempt: 1, token: "t" });
      await setJobStatus(kube.kubeConfig, namespace, handle.id, "running");
      await statusEventually(ex, handle.id, "running");
      await ex.stop(handle);
      await expect(
        kube.kubeConfig.makeApiClient(BatchV1Api).readNamespacedJob({ name: handle.id, namespace }),
      ).rejects.toSatisfy(notFound);
      await expect(
        kube.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: `${handle.id}-token`, namespace }),
      ).rejects.toSatisfy(notFound);
      expect((await ex.status(handle)).phase).toBe("unknown");
      expect((await ex.list()).map((r) => r.handle.id)).not.toContain(handle.id);
      await ex.stop(handle);
      await ex.stop({ kind: "kubernetes", id: "smith-neverexisted-1" });
    } finally {
      await ex.close();
    }
  });

  test("list returns this executor's Jobs by label selector, and no one else's", async ({ kube, namespace }) => {
    const blue = executor(kube.kubeConfig, namespace, { labels: { "app.kubernetes.io/instance": "blue" } });
    const green = executor(kube.kubeConfig, namespace, { labels: { "app.kubernetes.io/instance": "green" } });
    try {
      const l1 = loop();
      const l2 = loop();
      const b1 = await blue.start({ loop: l1, attempt: 1, token: "x" });
      const b2 = await blue.start({ loop: l2, attempt: 2, token: "x" });
      const g1 = await green.start({ loop: loop(), attempt: 1, token: "x" });
      // A Job that is not a replica's.
      await kube.kubeConfig.makeApiClient(BatchV1Api).createNamespacedJob({
        namespace,
        body: {
          metadata: { name: "unrelated" },
          spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } },
        },
      });
      await setJobStatus(kube.kubeConfig, namespace, b2.id, "failed");
      await statusEventually(blue, b2.id, "failed");
      const listed = await blue.list();
      expect(listed).toEqual(
        [
          { handle: b1, loopId: l1.id, attempt: 1, status: { phase: "pending" } },
          {
            handle: b2,
            loopId: l2.id,
            attempt: 2,
            status: { phase: "failed", message: "BackoffLimitExceeded: Job has reached the specified backoff limit" },
          },
        ].sort((x, y) => x.handle.id.localeCompare(y.handle.id)),
      );
      expect((await green.list()).map((r) => r.handle)).toEqual([g1]);
      expect(blue.labelSelector).toBe(
        "app.kubernetes.io/component=replica,app.kubernetes.io/instance=blue,app.kubernetes.io/name=smith",
      );
    } finally {
      await blue.close();
      await green.close();
    }
  });

  test("starting the same attempt again returns the same Job and replaces the token", async ({ kube, namespace }) => {
    const ex = executor(kube.kubeConfig, namespace);
    try {
      const l = loop();
      const first = await ex.start({ loop: l, attempt: 1, token: "old" });
      const second = await ex.start({ loop: l, attempt: 1, token: "new" });
      expect(second).toEqual(first);
      const secret = await kube.kubeConfig
        .makeApiClient(CoreV1Api)
        .readNamespacedSecret({ name: `${first.id}-token`, namespace });
      expect(Buffer.from(secret.data?.token ?? "", "base64").toString()).toBe("new");
    } finally {
      await ex.close();
    }
  });

  test("without list/watch permission the executor falls back to GETs for status", async ({ kube, namespace }) => {
    const kc = await kube.kubeConfigForRules(namespace, [
      { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "delete"] },
      { apiGroups: [""], resources: ["secrets"], verbs: ["create", "delete"] },
    ]);
    const errors: Error[] = [];
    const ex = executor(kc, namespace, { onWatchError: (e) => errors.push(e) });
    try {
      const handle = await ex.start({ loop: loop(), attempt: 1, token: "t" });
      expect(await ex.status(handle)).toEqual({ phase: "pending" });
      expect(ex.watching).toBe(false);
      expect(errors.length).toBeGreaterThan(0);
      await setJobStatus(kube.kubeConfig, namespace, handle.id, "complete");
      expect(await ex.status(handle)).toEqual({ phase: "succeeded", exitCode: 0 });
      await expect(ex.list()).rejects.toSatisfy((e) => isSmithError(e, "forbidden"));
      await ex.stop(handle);
    } finally {
      await ex.close();
    }
  });

  test("a Job whose Secret cannot be created is rolled back, and the error says why", async ({ kube, namespace }) => {
    const kc = await kube.kubeConfigForRules(namespace, [
      { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "list", "watch", "delete"] },
    ]);
    const ex = executor(kc, namespace);
    try {
      const l = loop();
      const err: unknown = await ex.start({ loop: l, attempt: 1, token: "t" }).catch((e: unknown) => e);
      expect(isSmithError(err, "forbidden")).toBe(true);
      expect(String(err)).toMatch(/secrets/);
      await expect(
        kube.kubeConfig.makeApiClient(BatchV1Api).readNamespacedJob({ name: `smith-${l.id}-1`, namespace }),
      ).rejects.toSatisfy(notFound);
    } finally {
      await ex.close();
    }
  });
});
