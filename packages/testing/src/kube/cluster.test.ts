import { AppsV1Api, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, ensureCluster } from "./cluster.ts";
import { helm } from "./helm.ts";

/**
 * On a real one-node cluster (scripts/cluster.sh: etcd, kube-apiserver, controller-manager,
 * scheduler, kube-proxy, CoreDNS, containerd, kubelet; images built here and imported): a Pod runs
 * to completion, resolving and reaching a Service; the chart installs and becomes Ready.
 * Skipped with the reason where the cluster cannot run (not root, no Go, no Docker), unless
 * SMITH_REQUIRE_CLUSTER_TESTS=1.
 */
const CHART = fileURLToPath(new URL("../../../../helm/smith", import.meta.url));
const VALUES = `${CHART}/ci/cluster-values.yaml`;

const cluster: Cluster = await ensureCluster();
if (!cluster.available) process.stderr.write(`${cluster.reason}\n`);
const describeCluster = cluster.available
  ? describe
  : (((name: string, fn: () => void) => describe.skip(`${name} — ${cluster.reason}`, fn)) as typeof describe);

async function createNamespace(core: CoreV1Api, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Polls the Pod until it has ended (Succeeded or Failed) or `ms` pass. */
async function podEnded(core: CoreV1Api, namespace: string, name: string, ms: number): Promise<V1Pod> {
  const deadline = Date.now() + ms;
  for (;;) {
    const pod = await core.readNamespacedPod({ name, namespace });
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed" || Date.now() > deadline) return pod;
    await new Promise((r) => setTimeout(r, 500));
  }
}

describeCluster("a one-node cluster (scripts/cluster.sh)", () => {
  if (!cluster.available) return;
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const namespaces: string[] = [];

  beforeAll(() => {
    if (cluster.startedHere) process.stderr.write(`smith-cluster: up in ${cluster.upSeconds} s\n`);
  });
  afterAll(async () => {
    for (const name of namespaces) await core.deleteNamespace({ name }).catch(() => undefined);
    await cluster.stop();
  }, 180_000);

  it("a Pod runs to completion: scheduled, started by the kubelet, cluster DNS and a Service (kube-proxy) reachable, its log read through the API", async () => {
    const namespace = await createNamespace(core, "smith-pod");
    namespaces.push(namespace);
    const script = `
const dns = require("node:dns/promises");
const net = require("node:net");
(async () => {
  const host = "kubernetes.default.svc.cluster.local";
  const { address } = await dns.lookup(host);
  await new Promise((resolve, reject) => {
    const socket = net.connect(443, host, () => { socket.end(); resolve(); });
    socket.on("error", reject);
  });
  console.log("hello from the cluster: " + host + " is " + address + " and answers on 443");
})().catch((err) => { console.error(String(err)); process.exit(1); });`;
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "hello" },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "hello",
              image: "smith:dev",
              imagePullPolicy: "Never",
              command: ["node", "-e", script],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
            },
          ],
        },
      },
    });
    const pod = await podEnded(core, namespace, "hello", 120_000);
    const log = await core.readNamespacedPodLog({ name: "hello", namespace }).catch((err: unknown) => String(err));
    expect(pod.status?.phase, `${JSON.stringify(pod.status, null, 2)}\n${log}`).toBe("Succeeded");
    expect(log).toContain(
      "hello from the cluster: kubernetes.default.svc.cluster.local is 10.96.0.1 and answers on 443",
    );
  }, 180_000);

  it("helm install: the API, two schedulers and the etcd StatefulSet become Ready; helm test passes", async () => {
    const namespace = await createNamespace(core, "smith");
    namespaces.push(namespace);
    const env = { KUBECONFIG: cluster.kubeconfigPath };
    const install = await helm(
      ["install", "smith", CHART, "--namespace", namespace, "--values", VALUES, "--wait", "--timeout", "8m"],
      { env },
    );
    const pods = await core.listNamespacedPod({ namespace });
    const summary = pods.items
      .map(
        (p) =>
          `${p.metadata?.name}: ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.map((c) => c.state))}`,
      )
      .join("\n");
    expect(install.code, `${install.stderr}\n${summary}`).toBe(0);

    const api = await apps.readNamespacedDeployment({ name: "smith-api", namespace });
    expect(api.status?.readyReplicas).toBe(2);
    const scheduler = await apps.readNamespacedDeployment({ name: "smith-scheduler", namespace });
    expect(scheduler.status?.readyReplicas).toBe(2);
    const etcd = await apps.readNamespacedStatefulSet({ name: "smith-etcd", namespace });
    expect(etcd.status?.readyReplicas).toBe(3);

    const test = await helm(["test", "smith", "--namespace", namespace, "--timeout", "3m"], { env });
    expect(test.code, test.stderr + test.stdout).toBe(0);
  }, 600_000);
});
