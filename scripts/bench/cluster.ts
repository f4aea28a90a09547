import { CoreV1Api, type KubeConfig, type KubernetesObject, Watch } from "@kubernetes/client-node";
import { createSmithClient } from "@smith/client";
import type { JournalEntry, LoopState } from "@smith/client";
import {
  type Cluster,
  ONE_STORY_PRD,
  RESTRICTED_POD_SECURITY,
  createNamespace,
  ensureCluster,
  gitRemote,
  importFakeReplicaImage,
  installSmith,
  releaseAccess,
} from "@smith/testing/standalone";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { BENCH } from "./config.ts";
import { percentile } from "./stats.ts";
import { BenchCheckError, type BenchContext, type Measurement, type Suite } from "./suite.ts";

/**
 * Smith as deployed on Kubernetes: the chart on the real one-node cluster of scripts/cluster.sh
 * (the same as packages/testing/src/kube/cluster.test.ts), loops created through the API
 * Service from the host, each run by a replica Job with the scripted agent against a git remote
 * on the host. Opt-in (`--only cluster`): it takes minutes and the machine's one cluster.
 */
export const clusterSuite: Suite = {
  name: "cluster",
  optIn: "takes minutes (images, a cluster bring-up, helm install, 10 loops) and holds the machine's one cluster",

  async run(ctx: BenchContext): Promise<Measurement[]> {
    ctx.log("cluster: waiting for the cluster lock (one user at a time), then building the images and bringing it up");
    const cluster = await ensureCluster();
    if (!cluster.available) {
      const reason = cluster.reason.replace(/^cluster tests skipped: /, "");
      ctx.log(`cluster: skipped: ${reason}`);
      return [skipped(reason)];
    }
    if (cluster.startedHere) ctx.log(`cluster: up in ${cluster.upSeconds} s`);
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    let namespace: string | undefined;
    try {
      ctx.log("cluster: the replica image with the scripted agent; helm install");
      await importFakeReplicaImage(cluster);
      namespace = await createNamespace(core, "smith-bench", RESTRICTED_POD_SECURITY);
      const installStarted = performance.now();
      const install = await installSmith(cluster, namespace);
      if (install.code !== 0)
        throw new BenchCheckError(`helm install failed (exit ${install.code}):\n${install.stderr}`);
      const installSeconds = (performance.now() - installStarted) / 1000;
      return await measure(ctx, cluster, core, namespace, installSeconds);
    } finally {
      if (namespace) await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      await cluster.stop();
    }
  },
};

/** The single row printed instead of figures when the cluster cannot run here. */
function skipped(reason: string): Measurement {
  return { id: "cluster.skipped", name: "cluster: skipped", value: Number.NaN, unit: "ms", note: `skipped: ${reason}` };
}

/** Every mark of one loop, in ms after just before its `loops.create` call. */
interface Marks {
  job?: number;
  pod?: number;
  journal?: number;
  synced?: number;
}

const LOOP_LABEL = "smith.dev/loop-id";

async function measure(
  ctx: BenchContext,
  cluster: Extract<Cluster, { available: true }>,
  core: CoreV1Api,
  namespace: string,
  installSeconds: number,
): Promise<Measurement[]> {
  const { loops, loopTimeoutMs } = BENCH.cluster;
  const access = await releaseAccess(core, namespace);
  const dir = mkdtempSync(join(tmpdir(), "smith-bench-cluster-"));
  ctx.defer(() => rmSync(dir, { recursive: true, force: true }));
  const remote = await gitRemote(dir);
  ctx.defer(() => remote.server.close());
  remote.hold.held = false;
  const client = createSmithClient({ url: access.apiUrl, token: access.adminToken });

  // When this process saw each loop's events (performance.now()), and just before its create call.
  // Kept apart: a Job's event could come before the create call's answer.
  const seen = new Map<string, Marks>();
  const enqueuedAt = new Map<string, number>();
  const mark = (id: string | undefined, name: keyof Marks) => {
    if (id === undefined) return;
    const m = seen.get(id) ?? {};
    m[name] ??= performance.now();
    seen.set(id, m);
  };
  const marksOf = (id: string): Marks => {
    const t0 = enqueuedAt.get(id) ?? Number.NaN;
    return Object.fromEntries(Object.entries(seen.get(id) ?? {}).map(([k, t]) => [k, (t as number) - t0])) as Marks;
  };
  const ended = new Map<string, LoopState>();
  const loopOf = (o: KubernetesObject) => o.metadata?.labels?.[LOOP_LABEL];
  const stopJobs = watchKind(ctx, cluster.kubeConfig, `/apis/batch/v1/namespaces/${namespace}/jobs`, (o) =>
    mark(loopOf(o), "job"),
  );
  const stopPods = watchKind(ctx, cluster.kubeConfig, `/api/v1/namespaces/${namespace}/pods`, (o) => {
    const phase = (o as { status?: { phase?: string } }).status?.phase;
    // Running; or already ended, if the kubelet's status update with Running never came.
    if (phase === "Running" || phase === "Succeeded" || phase === "Failed") mark(loopOf(o), "pod");
  });
  const loopWatch = client.loops.watch.subscribe(
    { snapshot: false },
    {
      onData: ({ data }) => {
        if (data.type !== "put") return;
        const { id, status } = data.loop;
        if (status.state === "synced") mark(id, "synced");
        if (["synced", "flatline", "cancelled", "waiting"].includes(status.state)) ended.set(id, status.state);
      },
      onError: (err) => ctx.log(`cluster: loops.watch: ${String(err)}`),
    },
  );
  const loadBefore = loadavg();
  const started = performance.now();
  try {
    // The watches answer with their current state first; give them a moment to be open.
    await delay(1000);
    for (let i = 0; i < loops; i++) {
      ctx.signal.throwIfAborted();
      const t0 = performance.now();
      const { loop } = await client.loops.create.mutate({
        spec: {
          repo: { url: `http://${access.nodeIp}:${remote.port}/demo.git` },
          prd: { kind: "inline", content: JSON.stringify(ONE_STORY_PRD) },
          agent: { provider: "claude" },
        },
      });
      enqueuedAt.set(loop.id, t0);
      // From seq 0: every entry is backfilled, so an entry written before the stream opened is
      // seen at once (later than written, never missed).
      const tail = client.journal.tail.subscribe(
        { loopId: loop.id, afterSeq: 0 },
        {
          onData: ({ data }) => {
            const entry = data as JournalEntry;
            if (entry.actor.type === "replica" || entry.actor.type === "agent") mark(loop.id, "journal");
          },
          onError: (err) => ctx.log(`cluster: journal.tail ${loop.id}: ${String(err)}`),
        },
      );
      try {
        const deadline = performance.now() + loopTimeoutMs;
        while (!ended.has(loop.id)) {
          ctx.signal.throwIfAborted();
          if (performance.now() > deadline)
            throw new BenchCheckError(`loop ${loop.id} did not end within ${loopTimeoutMs / 1000} s`);
          await delay(100);
        }
        // The replica's last entries come just before the state; let the tail catch up.
        const drain = performance.now() + 5000;
        while (seen.get(loop.id)?.journal === undefined && performance.now() < drain) await delay(50);
      } finally {
        tail.unsubscribe();
      }
      const state = ended.get(loop.id);
      const m = marksOf(loop.id);
      ctx.log(`cluster: loop ${i + 1}/${loops} ${loop.id}: ${state} ${JSON.stringify(rounded(m))} ms after enqueue`);
      if (state !== "synced") {
        const journal = await client.journal.list.query({ loopId: loop.id }).catch(() => undefined);
        const last = (journal?.entries ?? []).slice(-10).map((e) => `${e.phase}: ${e.message}`);
        throw new BenchCheckError(`loop ${loop.id} ended ${state}, not synced:\n${last.join("\n")}`);
      }
      const missing = (["job", "pod", "journal", "synced"] as const).filter((k) => m[k] === undefined);
      if (missing.length > 0)
        throw new BenchCheckError(`loop ${loop.id} synced but never showed: ${missing.join(", ")}`);
    }
  } finally {
    loopWatch.unsubscribe();
    stopJobs();
    stopPods();
  }
  const seconds = (performance.now() - started) / 1000;
  const loadAfter = loadavg();
  const all = [...enqueuedAt.keys()].map(marksOf);
  const how =
    `${loops} loops one after the other (each created when the previous one is synced), 1 story, scripted agent; ` +
    `load average ${loadBefore[0]?.toFixed(1)} before, ${loadAfter[0]?.toFixed(1)} after ${seconds.toFixed(0)} s; ` +
    `helm install --wait took ${installSeconds.toFixed(0)} s`;
  const figures: { key: keyof Marks; label: string; how: string }[] = [
    { key: "job", label: "enqueue→Job created", how },
    { key: "pod", label: "enqueue→replica Pod running", how: "same loops; the Pod watch event with phase Running" },
    {
      key: "journal",
      label: "enqueue→first replica journal entry",
      how: "same loops; journal.tail (SSE through the API Service), first entry by the replica or its agent",
    },
    { key: "synced", label: "enqueue→synced", how: "same loops; loops.watch (SSE) event with state synced" },
  ];
  return figures.flatMap(({ key, label, how: note }) => {
    const samples = all.map((m) => m[key] ?? Number.NaN);
    return [
      { id: `cluster.${key}.p50`, name: `${label} p50`, value: percentile(samples, 50), unit: "ms" as const, note },
      {
        id: `cluster.${key}.max`,
        name: `${label} max`,
        value: Math.max(...samples),
        unit: "ms" as const,
        note: "same samples",
      },
    ];
  });
}

function rounded(m: Marks): Marks {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v as number)])) as Marks;
}

/**
 * A Kubernetes watch of `path` (objects with the loop label) that calls `onObject` on every
 * added or modified object, as this process receives it. The client ends a watch after 30 s
 * without an event; it is opened again from the last resourceVersion seen, so nothing is missed
 * (after an ERROR event such as 410 Gone, from the current state). Returns the stop function.
 */
function watchKind(
  ctx: BenchContext,
  kubeConfig: KubeConfig,
  path: string,
  onObject: (o: KubernetesObject) => void,
): () => void {
  let resourceVersion: string | undefined;
  let stopped = false;
  let controller: AbortController | undefined;
  const open = async (): Promise<void> => {
    if (stopped) return;
    try {
      controller = await new Watch(kubeConfig).watch(
        path,
        // No allowWatchBookmarks: this API server answers it with an ERROR (RequestWatchProgress off).
        { labelSelector: LOOP_LABEL, resourceVersion },
        (type: string, object: KubernetesObject & { message?: string }) => {
          if (type === "ERROR") {
            ctx.log(`cluster: watch ${path}: ${object.message ?? JSON.stringify(object)}; again from now`);
            resourceVersion = undefined;
            return;
          }
          resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
          if (type === "ADDED" || type === "MODIFIED") onObject(object);
        },
        () => {
          if (!stopped) setTimeout(() => void open(), 100);
        },
      );
    } catch (err) {
      ctx.log(`cluster: watch ${path}: ${String(err)}; again in 1 s`);
      if (!stopped) setTimeout(() => void open(), 1000);
    }
  };
  void open();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
