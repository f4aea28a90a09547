import { BatchV1Api, CoreV1Api, type V1Job } from "@kubernetes/client-node";
import type { CreateLoopRequest } from "@smith/core";
import { KubernetesJobExecutor } from "@smith/executor/kubernetes";
import { silentLogger } from "@smith/logger";
import { SmithStore } from "@smith/store";
import { kubeDescribe, kubeTest as test, setJobStatus } from "@smith/testing/kube";
import { expect, vi } from "vitest";
import { Scheduler } from "./scheduler.ts";

const describeKube = await kubeDescribe();

const PRD = JSON.stringify({
  project: "p",
  qualityGates: ["true"],
  stories: [{ id: "A", title: "a", status: "open", acceptanceCriteria: ["c"] }],
});
const request: CreateLoopRequest = {
  spec: {
    repo: { url: "https://example.com/repo.git" },
    prd: { kind: "inline", content: PRD },
    agent: { provider: "replay" },
    limits: { maxAttempts: 3 },
  },
};

describeKube("scheduler + reconciler with the Kubernetes Job executor", () => {
  test("a loop whose Job failed is retried as a new attempt with a new Job", async ({
    kube,
    namespace,
    etcdEndpoint,
    prefix,
  }) => {
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    const executor = new KubernetesJobExecutor({
      kubeConfig: kube.kubeConfig,
      namespace,
      image: "registry.example.com/smith-replica:test",
      apiUrl: "http://smith-api:7070",
    });
    const scheduler = new Scheduler({
      store,
      executor,
      signingKey: "k".repeat(32),
      startGraceMs: 1_000,
      retryBackoffMs: 0,
      pollIntervalMs: 200,
      // The test drives the reconciler with reconcileNow().
      reconcileIntervalMs: 3_600_000,
      log: silentLogger,
    });
    const batch = kube.kubeConfig.makeApiClient(BatchV1Api);
    const readJob = (name: string): Promise<V1Job> => batch.readNamespacedJob({ name, namespace });
    try {
      const { loop } = await store.loops.create(request);
      await scheduler.start();

      // Attempt 1: claimed, and its Job created with the scheduler-minted token in a Secret.
      const first = await vi.waitFor(() => readJob(`smith-${loop.id}-1`), { timeout: 15_000, interval: 100 });
      expect(first.metadata?.labels).toMatchObject({ "smith.dev/loop-id": loop.id, "smith.dev/attempt": "1" });
      await vi.waitFor(
        async () =>
          expect((await store.loops.getOrThrow(loop.id)).loop.status).toMatchObject({
            state: "running",
            attempt: 1,
            executor: { kind: "kubernetes", id: `smith-${loop.id}-1` },
          }),
        {
          timeout: 10_000,
        },
      );
      const secret = await kube.kubeConfig
        .makeApiClient(CoreV1Api)
        .readNamespacedSecret({ name: `smith-${loop.id}-1-token`, namespace });
      expect(Buffer.from(secret.data?.token ?? "", "base64").toString().length).toBeGreaterThan(20);

      // Its Pod "fails" (the test plays the Job controller); the reconciler sees it and retries.
      await setJobStatus(kube.kubeConfig, namespace, `smith-${loop.id}-1`, "running");
      await setJobStatus(kube.kubeConfig, namespace, `smith-${loop.id}-1`, "failed");
      await vi.waitFor(
        async () =>
          expect((await executor.status({ kind: "kubernetes", id: `smith-${loop.id}-1` })).phase).toBe("failed"),
        { timeout: 10_000 },
      );
      await scheduler.reconcileNow();

      // Attempt 2: a new Job, and the loop records it.
      const second = await vi.waitFor(() => readJob(`smith-${loop.id}-2`), { timeout: 15_000, interval: 100 });
      expect(second.metadata?.labels).toMatchObject({ "smith.dev/loop-id": loop.id, "smith.dev/attempt": "2" });
      await vi.waitFor(
        async () =>
          expect((await store.loops.getOrThrow(loop.id)).loop.status).toMatchObject({
            state: "running",
            attempt: 2,
            executor: { id: `smith-${loop.id}-2` },
          }),
        {
          timeout: 10_000,
        },
      );
      const journal = (await store.journal.list(loop.id)).entries.map((e) => e.message);
      expect(journal.some((m) => /replica lost on attempt 1 \(.*failed.*BackoffLimitExceeded/.test(m))).toBe(true);
      expect(journal.some((m) => m.includes(`attempt 2 scheduled on kubernetes executor (smith-${loop.id}-2)`))).toBe(
        true,
      );

      // The failed Job is left to its TTL; the reconciler stops nothing that is current.
      const report = await scheduler.reconciler.runOnce();
      expect(report).toMatchObject({ retried: [], stopped: [] });
      expect((await executor.list()).map((r) => [r.attempt, r.status.phase])).toEqual([
        [1, "failed"],
        [2, "pending"],
      ]);
    } finally {
      await scheduler.stop();
      await executor.close();
      store.close();
    }
  });
});
