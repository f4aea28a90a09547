// On a real one-node cluster (scripts/cluster.sh: a kubelet, containerd, the Job controller): a
// replica Job started by the KubernetesJobExecutor, read and entered through the API's
// KubernetesReplicaInspector with the chart's API grants. Skipped with the reason where the
// cluster cannot run (not root, no Go, no Docker), unless SMITH_REQUIRE_CLUSTER_TESTS=1.
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from "@kubernetes/client-node";
import type { ExecutorHandle } from "@smith/core";
import { KubernetesJobExecutor, KubernetesReplicaInspector } from "@smith/executor/kubernetes";
import { etcdTest as test } from "@smith/testing";
import { type Cluster, ensureCluster } from "@smith/testing/kube";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect } from "vitest";
import { loopInput, runLoop, startTestApi } from "./testSupport.ts";

const cluster: Cluster = await ensureCluster();
if (!cluster.available) process.stderr.write(`${cluster.reason}\n`);
const describeCluster = cluster.available
  ? describe
  : (((name: string, fn: () => void) => describe.skip(`${name} — ${cluster.reason}`, fn)) as typeof describe);

/** The chart's API Role for replica access (helm/smith/templates/rbac.yaml, api.replicaAccess: exec). */
const REPLICA_RULES: V1PolicyRule[] = [
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  { apiGroups: [""], resources: ["pods/exec"], verbs: ["get", "create"] },
];
const LABELS = { "app.kubernetes.io/instance": "smith" };

/** What the replica runs instead of smith-replica: a log on both streams, a file in its workspace, then it waits. */
const SCRIPT = [
  'i=0; while [ $i -lt 3 ]; do echo "replica line $i"; i=$((i+1)); done',
  // One long line: the end of the log is then not within a few lines' worth of bytes.
  "head -c 5000 /dev/zero | tr '\\0' y; echo END",
  // A second later: the runtime reads the two streams apart, so their order in the log is only that of time.
  "sleep 1",
  "echo 'on stderr' >&2",
  "printf 'hello\\n' > /workspace/note.txt",
  "exec sleep 600",
].join("; ");

const LOG = `replica line 0\nreplica line 1\nreplica line 2\n${"y".repeat(5000)}END\non stderr\n`;

describeCluster("replica access on a one-node cluster (scripts/cluster.sh)", () => {
  if (!cluster.available) return;
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const namespaces: string[] = [];
  afterAll(async () => {
    for (const name of namespaces) await core.deleteNamespace({ name }).catch(() => undefined);
    await cluster.stop();
  }, 180_000);

  test("a replica Job's Pod through the API: loops.runtime (running on the node), its log (pods/log) and commands in its workspace (pods/exec)", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const namespace = `smith-replicas-${randomBytes(3).toString("hex")}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    namespaces.push(namespace);

    // The API's ServiceAccount with the chart's grants, and a kubeconfig of its token.
    const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "smith-api" } } });
    await rbac.createNamespacedRole({ namespace, body: { metadata: { name: "smith-api" }, rules: REPLICA_RULES } });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: "smith-api" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "smith-api" },
        subjects: [{ kind: "ServiceAccount", name: "smith-api", namespace }],
      },
    });
    const token = (
      await core.createNamespacedServiceAccountToken({
        name: "smith-api",
        namespace,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      })
    ).status?.token;
    const server = cluster.kubeConfig.getCurrentCluster();
    if (!token || !server) throw new Error("no ServiceAccount token or no cluster in the kubeconfig");
    const apiKube = new KubeConfig();
    apiKube.loadFromOptions({
      clusters: [server],
      users: [{ name: "smith-api", token }],
      contexts: [{ name: "smith-api", cluster: server.name, user: "smith-api" }],
      currentContext: "smith-api",
    });

    const executor = new KubernetesJobExecutor({
      kubeConfig: cluster.kubeConfig,
      namespace,
      image: "smith-replica:dev",
      imagePullPolicy: "Never",
      apiUrl: "http://smith-api.invalid:7070",
      command: ["/bin/sh", "-c", SCRIPT],
      labels: LABELS,
      resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "256Mi" } },
    });
    const inspector = new KubernetesReplicaInspector({ kubeConfig: apiKube, namespace, labels: LABELS });
    const api = await startTestApi(etcdEndpoint, prefix, { replicaInspectors: [inspector] });
    let handle: ExecutorHandle | undefined;
    try {
      const operator = api.client(api.tokens.operator);
      const viewer = api.client(api.tokens.viewer);
      const { loop } = await operator.loops.create.mutate(loopInput());
      const attempt = await runLoop(api, loop.id);
      handle = await executor.start({ loop: (await api.store.loops.getOrThrow(loop.id)).loop, attempt, token: "t" });
      await api.store.loops.transition(loop.id, {
        type: "replicaStarted",
        attempt,
        handle,
        at: new Date().toISOString(),
      });

      // The kubelet starts the container: the Pod runs on the node.
      let runtime = await viewer.loops.runtime.query({ id: loop.id });
      for (let i = 0; i < 240 && runtime.replica?.phase !== "running"; i++) {
        await sleep(500);
        runtime = await viewer.loops.runtime.query({ id: loop.id });
      }
      expect(runtime, JSON.stringify(runtime)).toMatchObject({
        executor: handle,
        inspected: true,
        replica: {
          phase: "running",
          pod: expect.stringMatching(new RegExp(`^${handle.id}-[a-z0-9]{5}$`)),
          node: "smith-node",
          podIp: expect.stringMatching(/^10\.244\.0\.\d+$/),
          startedAt: expect.any(String),
        },
      });

      // Its own log, both streams, through pods/log.
      let log = await operator.loops.replicaLog.query({ id: loop.id });
      for (let i = 0; i < 100 && !log.text.includes("on stderr"); i++) {
        await sleep(200);
        log = await operator.loops.replicaLog.query({ id: loop.id });
      }
      expect(log).toMatchObject({
        loopId: loop.id,
        attempt,
        text: LOG,
        truncated: false,
        bytes: LOG.length,
      });
      // The end of it, also when it lies in a line longer than the window pods/log is asked for.
      for (const maxBytes of [5, 20, 100, 5008])
        expect(await operator.loops.replicaLog.query({ id: loop.id, maxBytes }), `maxBytes ${maxBytes}`).toMatchObject({
          text: LOG.slice(-maxBytes),
          truncated: true,
        });

      // Commands in its workspace (the container's working directory), argv only.
      const exec = (command: string[], timeoutMs?: number) =>
        operator.loops.exec.mutate({ id: loop.id, command, ...(timeoutMs ? { timeoutMs } : {}) });
      expect(await exec(["cat", "note.txt"])).toMatchObject({
        exitCode: 0,
        stdout: "hello\n",
        stderr: "",
        timedOut: false,
      });
      expect(await exec(["pwd"])).toMatchObject({ exitCode: 0, stdout: "/workspace\n" });
      // Only PATH and HOME: not the container's environment (SMITH_TOKEN_FILE, provider keys).
      expect(await exec(["env"])).toMatchObject({
        exitCode: 0,
        stdout: "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOME=/home/smith\n",
      });
      // No shell: `$HOME` is a word, not an expansion.
      expect(await exec(["echo", "$HOME;", "id"])).toMatchObject({ exitCode: 0, stdout: "$HOME; id\n" });
      expect(await exec(["sh", "-c", "echo no >&2; exit 3"])).toMatchObject({
        exitCode: 3,
        stdout: "",
        stderr: "no\n",
      });
      const big = await exec(["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"]);
      expect(big).toMatchObject({ exitCode: 0, truncated: true });
      expect(big.stdout).toBe("x".repeat(64 * 1024));
      const slow = await exec(["sleep", "30"], 1000);
      expect(slow).toMatchObject({ exitCode: null, timedOut: true });
      expect(slow.durationMs).toBeLessThan(10_000);
      // Closing the stream does not stop a process in the container; `timeout` killed it a second later.
      await sleep(1500);
      const ps = await exec(["sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done"]);
      expect(ps.stdout).toContain("sleep 600");
      expect(ps.stdout).not.toContain("sleep 30");
      expect(await exec(["no-such-command"])).toMatchObject({
        exitCode: 127,
        stderr: expect.stringContaining("no-such-command"),
      });

      // Each call audited with its command and exit code.
      const audit = (await api.store.audit.list({ loopId: loop.id })).items.filter((e) => e.action === "loops.exec");
      expect(audit.map((e) => [e.outcome, e.details.command, e.details.exitCode, e.details.timedOut])).toEqual([
        ["ok", "cat note.txt", 0, false],
        ["ok", "pwd", 0, false],
        ["ok", "env", 0, false],
        ["ok", "echo $HOME; id", 0, false],
        ["ok", "sh -c echo no >&2; exit 3", 3, false],
        ["ok", "sh -c head -c 100000 /dev/zero | tr '\\0' x", 0, false],
        ["ok", "sleep 30", null, true],
        ["ok", expect.stringMatching(/^sh -c for f in/), 0, false],
        ["ok", "no-such-command", 127, false],
      ]);
    } finally {
      if (handle) await executor.stop(handle);
      await executor.close();
      await api.close();
    }
  }, 300_000);
});
