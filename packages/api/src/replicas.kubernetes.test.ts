import { CoreV1Api, type V1Pod, type V1PolicyRule } from "@kubernetes/client-node";
import { TRPCClientError } from "@smith/client";
import type { ExecutorHandle } from "@smith/core";
import {
  KubernetesReplicaInspector,
  buildJob,
  jobName,
  resolveKubernetesJobExecutorOptions,
} from "@smith/executor/kubernetes";
import { kubeDescribe, kubeTest as test, type KubeApiserver } from "@smith/testing/kube";
import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import { loopInput, runLoop, startTestApi, type TestApi } from "./testSupport.ts";

const describeKube = await kubeDescribe();

/** What the chart's API Role grants for replica access (helm/smith/templates/rbac.yaml, api.replicaAccess: exec). */
const REPLICA_RULES: V1PolicyRule[] = [
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  { apiGroups: [""], resources: ["pods/exec"], verbs: ["get", "create"] },
];

/** The chart's extra replica label (SMITH_REPLICA_LABELS). */
const LABELS = { "app.kubernetes.io/instance": "smith" };

async function refusal(call: Promise<unknown>): Promise<{ code: string; smith: string; message: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof TRPCClientError) {
      const data = (err as { data?: { code?: string; smith?: { code?: string } } }).data;
      return { code: String(data?.code), smith: String(data?.smith?.code), message: err.message };
    }
    throw err;
  }
  throw new Error("expected the call to be refused");
}

/** A running loop whose recorded replica is the Kubernetes Job of its attempt in `namespace`. */
async function kubernetesLoop(api: TestApi, namespace: string) {
  const { loop } = await api.client(api.tokens.operator).loops.create.mutate(loopInput());
  const attempt = await runLoop(api, loop.id);
  const handle: ExecutorHandle = {
    kind: "kubernetes",
    id: jobName(loop.id, attempt),
    instance: `kubernetes/${namespace}`,
  };
  await api.store.loops.transition(loop.id, { type: "replicaStarted", attempt, handle, at: new Date().toISOString() });
  return { loopId: loop.id, attempt, handle };
}

/**
 * The Pod the Job controller would make for the executor's Job (no controller runs next to the
 * test apiserver): the Job's Pod template, its labels plus the controller's job-name label.
 */
async function createReplicaPod(
  kube: KubeApiserver,
  namespace: string,
  loopId: string,
  attempt: number,
): Promise<string> {
  const template = resolveKubernetesJobExecutorOptions({
    kubeConfig: kube.kubeConfig,
    namespace,
    image: "smith-replica:dev",
    apiUrl: "http://smith-api:7070",
    labels: LABELS,
  }).template;
  const job = buildJob(template, { loopId, attempt, timeoutMs: 3_600_000 });
  const name = `${jobName(loopId, attempt)}-${randomBytes(3).toString("hex").slice(0, 5)}`;
  const core = kube.kubeConfig.makeApiClient(CoreV1Api);
  // The ServiceAccount admission plugin wants the Pod's ServiceAccount to exist (no controller makes `default`).
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name: "default" } } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name,
        labels: { ...job.spec?.template.metadata?.labels, "batch.kubernetes.io/job-name": jobName(loopId, attempt) },
      },
      spec: job.spec?.template.spec,
    } as V1Pod,
  });
  return name;
}

/** Writes the Pod's status through the status subresource, as the kubelet would. */
async function setPodStatus(kube: KubeApiserver, namespace: string, name: string, status: V1Pod["status"]) {
  const core = kube.kubeConfig.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPodStatus({ name, namespace });
  await core.replaceNamespacedPodStatus({ name, namespace, body: { ...pod, status } });
}

describeKube("Kubernetes replica access through the API (KubernetesReplicaInspector)", () => {
  test("loops.runtime reads the replica Pod (phase, node, Pod IP, start, exit code and reason); replicaLog and exec refuse, with typed errors, what only a kubelet could serve", async ({
    kube,
    namespace,
    etcdEndpoint,
    prefix,
  }) => {
    const inspector = new KubernetesReplicaInspector({
      kubeConfig: await kube.kubeConfigForRules(namespace, REPLICA_RULES, "smith-api"),
      namespace,
      labels: LABELS,
    });
    const api = await startTestApi(etcdEndpoint, prefix, { replicaInspectors: [inspector] });
    try {
      const viewer = api.client(api.tokens.viewer);
      const operator = api.client(api.tokens.operator);
      const { loopId, attempt, handle } = await kubernetesLoop(api, namespace);

      // The Job's Pod does not exist yet.
      expect(await viewer.loops.runtime.query({ id: loopId })).toMatchObject({
        executor: handle,
        inspected: true,
        replica: { phase: "unknown", message: expect.stringMatching(/has no Pod/) },
      });
      expect(await refusal(operator.loops.replicaLog.query({ id: loopId }))).toMatchObject({
        code: "NOT_FOUND",
        message: expect.stringMatching(/has no Pod in namespace .*kubectl get pods -n .* -l .*smith\.dev\/loop-id=/),
      });

      // Created, not scheduled: Pending, no node.
      const pod = await createReplicaPod(kube, namespace, loopId, attempt);
      await setPodStatus(kube, namespace, pod, {
        phase: "Pending",
        conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/0 nodes" }],
      });
      const pending = await viewer.loops.runtime.query({ id: loopId });
      expect(pending).toMatchObject({ inspected: true, replica: { phase: "pending", pod } });
      expect(pending.replica).not.toHaveProperty("node");
      // pods/log of a Pod with no node: the apiserver answers an empty 200, as `kubectl logs` shows.
      expect(await operator.loops.replicaLog.query({ id: loopId })).toMatchObject({
        text: "",
        truncated: false,
        bytes: 0,
      });
      const noNodeExec = await refusal(operator.loops.exec.mutate({ id: loopId, command: ["ls"] }));
      expect(noNodeExec).toMatchObject({
        code: "PRECONDITION_FAILED",
        message: expect.stringMatching(/Pod .* has no node yet \(not scheduled\).*kubectl exec/),
      });

      // Bound to a node (the scheduler's binding) and running (the kubelet's status).
      const core = kube.kubeConfig.makeApiClient(CoreV1Api);
      await core.createNamespacedPodBinding({
        name: pod,
        namespace,
        body: { metadata: { name: pod }, target: { apiVersion: "v1", kind: "Node", name: "node-a" } },
      });
      const startTime = new Date(Math.floor(Date.now() / 1000) * 1000);
      const image = "smith-replica:dev";
      await setPodStatus(kube, namespace, pod, {
        phase: "Running",
        podIP: "10.244.0.17",
        podIPs: [{ ip: "10.244.0.17" }],
        hostIP: "192.0.2.10",
        startTime,
        containerStatuses: [
          {
            name: "replica",
            image,
            imageID: "",
            ready: true,
            restartCount: 0,
            started: true,
            state: { running: { startedAt: startTime } },
          },
        ],
      });
      expect(await viewer.loops.runtime.query({ id: loopId })).toMatchObject({
        loopId,
        state: "running",
        executor: handle,
        inspected: true,
        replica: {
          phase: "running",
          pod,
          node: "node-a",
          podIp: "10.244.0.17",
          startedAt: startTime.toISOString(),
        },
      });
      // Running on a node with no kubelet behind it (no Node object either): the apiserver cannot
      // serve pods/log or pods/exec; its answer comes back typed, naming the node and the kubectl equivalent.
      const noKubeletLog = await refusal(operator.loops.replicaLog.query({ id: loopId }));
      expect(noKubeletLog).toMatchObject({
        code: "SERVICE_UNAVAILABLE",
        smith: "unavailable",
        message: expect.stringContaining(
          `reading the log of Pod ${pod}: HTTP 404: pods "node-a" not found: the API server could not reach the kubelet of node node-a (the same as kubectl logs -n ${namespace} ${pod})`,
        ),
      });
      const noKubeletExec = await refusal(operator.loops.exec.mutate({ id: loopId, command: ["ls"] }));
      expect(noKubeletExec).toMatchObject({
        code: "SERVICE_UNAVAILABLE",
        message: expect.stringContaining(
          `exec in Pod ${pod}: HTTP 404: Unexpected server response: 404: the API server could not reach the kubelet of node node-a (the same as kubectl exec -n ${namespace} ${pod} -c replica -- ...)`,
        ),
      });
      // Both calls of the operator were audited, as any failed mutation is (exec) or not at all (a query).
      const execAudit = (await api.store.audit.list({ loopId })).items.filter((e) => e.action === "loops.exec");
      expect(execAudit.map((e) => e.outcome)).toEqual(["error", "error"]);

      // The container ended with code 3.
      const finishedAt = new Date(startTime.getTime() + 5000);
      await setPodStatus(kube, namespace, pod, {
        phase: "Failed",
        podIP: "10.244.0.17",
        podIPs: [{ ip: "10.244.0.17" }],
        hostIP: "192.0.2.10",
        startTime,
        containerStatuses: [
          {
            name: "replica",
            image,
            imageID: "",
            ready: false,
            restartCount: 0,
            started: false,
            state: { terminated: { exitCode: 3, reason: "Error", startedAt: startTime, finishedAt } },
          },
        ],
      });
      expect((await viewer.loops.runtime.query({ id: loopId })).replica).toMatchObject({
        phase: "failed",
        exitCode: 3,
        reason: "Error",
        node: "node-a",
      });
      // exec needs a running container: refused before any pods/exec call.
      expect(await refusal(operator.loops.exec.mutate({ id: loopId, command: ["ls"] }))).toMatchObject({
        code: "PRECONDITION_FAILED",
      });

      // A handle of another namespace is not this inspector's: not inspected, and log/exec say so.
      const other = await kubernetesLoop(api, "elsewhere");
      expect(await viewer.loops.runtime.query({ id: other.loopId })).toMatchObject({ inspected: false });
      expect(await refusal(operator.loops.replicaLog.query({ id: other.loopId }))).toMatchObject({
        code: "NOT_IMPLEMENTED",
        message: expect.stringMatching(/no access to the Kubernetes replicas of kubernetes\/elsewhere/),
      });
    } finally {
      await api.close();
    }
  });

  test("without the grants: a typed FORBIDDEN naming the missing grant; with exec off, exec is NOT_IMPLEMENTED", async ({
    kube,
    namespace,
    etcdEndpoint,
    prefix,
  }) => {
    const denied = new KubernetesReplicaInspector({
      kubeConfig: await kube.kubeConfigForRules(namespace, [], "smith-api"),
      namespace,
      labels: LABELS,
    });
    const readOnly = new KubernetesReplicaInspector({
      kubeConfig: await kube.kubeConfigForRules(namespace, REPLICA_RULES.slice(0, 2), "smith-api"),
      namespace: "elsewhere-read",
      labels: LABELS,
      exec: false,
    });
    const api = await startTestApi(etcdEndpoint, prefix, { replicaInspectors: [denied, readOnly] });
    try {
      const { loopId } = await kubernetesLoop(api, namespace);
      expect(await refusal(api.client(api.tokens.viewer).loops.runtime.query({ id: loopId }))).toMatchObject({
        code: "FORBIDDEN",
        message: expect.stringMatching(
          new RegExp(`listing the Pods of Job .*: HTTP 403: .*needs list on pods in namespace ${namespace}`),
        ),
      });
      const ro = await kubernetesLoop(api, "elsewhere-read");
      expect(
        await refusal(api.client(api.tokens.operator).loops.exec.mutate({ id: ro.loopId, command: ["ls"] })),
      ).toMatchObject({
        code: "NOT_IMPLEMENTED",
        message: expect.stringMatching(
          /cannot exec in the Kubernetes replicas of kubernetes\/elsewhere-read.*SMITH_REPLICA_ACCESS=exec/,
        ),
      });
    } finally {
      await api.close();
    }
  });
});
