import { AppsV1Api, CoreV1Api, StorageV1Api } from "@kubernetes/client-node";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Cluster, ensureCluster } from "./cluster.ts";
import {
  ONE_STORY_PRD,
  RESTRICTED_POD_SECURITY,
  createNamespace,
  gitRemote,
  importFakeReplicaImage,
  installSmith,
  releaseAccess,
} from "./release.ts";

/**
 * The chart's etcd on PersistentVolumes, as production runs it (etcd.persistence.enabled, the
 * default): on the one-node cluster of scripts/cluster.sh, which has no storage provisioner, the
 * test makes a StorageClass without one and three hostPath PersistentVolumes for the
 * StatefulSet's claims to bind. Every etcd member is then deleted at once (what emptyDir would not
 * survive) and the loops must all be there when the members are back.
 */
const ETCD_UID = 1000; // podSecurityContext.runAsUser in helm/smith/values.yaml
const MEMBERS = 3;

const cluster: Cluster = await ensureCluster();
if (!cluster.available) process.stderr.write(`${cluster.reason}\n`);
const describeCluster = cluster.available
  ? describe
  : (((name: string, fn: () => void) => describe.skip(`${name} — ${cluster.reason}`, fn)) as typeof describe);

/** One tRPC call to the chart's API with the admin token (the procedures smithctl calls). */
async function trpc<T>(
  access: { apiUrl: string; adminToken: string },
  kind: "query" | "mutation",
  path: string,
  input: unknown,
): Promise<T> {
  const body = JSON.stringify({ json: input });
  const url = `${access.apiUrl}/trpc/${path}${kind === "query" ? `?input=${encodeURIComponent(body)}` : ""}`;
  const res = await fetch(url, {
    method: kind === "query" ? "GET" : "POST",
    headers: { authorization: `Bearer ${access.adminToken}`, "content-type": "application/json" },
    ...(kind === "mutation" ? { body } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { result: { data: { json: T } } }).result.data.json;
}

interface LoopView {
  id: string;
  status: { state: string; attempt: number };
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s (${String(last)})`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

describeCluster("the chart's etcd on PersistentVolumes (one-node cluster)", () => {
  if (!cluster.available) return;
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const storage = cluster.kubeConfig.makeApiClient(StorageV1Api);
  const cleanups: (() => Promise<unknown>)[] = [];

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await cluster.stop();
  }, 240_000);

  it("every etcd member deleted at once comes back on its volume: the loops and their journals are all there, and new loops run", async () => {
    const namespace = await createNamespace(core, "smith-pv", RESTRICTED_POD_SECURITY);
    cleanups.push(() => core.deleteNamespace({ name: namespace }));
    const dir = mkdtempSync(join(tmpdir(), "smith-pv-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);

    // A StorageClass without a provisioner and one hostPath volume per member, owned by etcd's uid
    // (the kubelet does not chown hostPath volumes; etcd wants its data directory 0700).
    const storageClass = `smith-pv-${namespace}`;
    await storage.createStorageClass({
      body: {
        metadata: { name: storageClass },
        provisioner: "kubernetes.io/no-provisioner",
        volumeBindingMode: "WaitForFirstConsumer",
        reclaimPolicy: "Retain",
      },
    });
    cleanups.push(() => storage.deleteStorageClass({ name: storageClass }));
    for (let i = 0; i < MEMBERS; i++) {
      const path = join(dir, `member-${i}`);
      mkdirSync(path, { mode: 0o700 });
      chownSync(path, ETCD_UID, ETCD_UID);
      const name = `${storageClass}-${i}`;
      await core.createPersistentVolume({
        body: {
          metadata: { name },
          spec: {
            capacity: { storage: "8Gi" },
            accessModes: ["ReadWriteOnce"],
            persistentVolumeReclaimPolicy: "Retain",
            storageClassName: storageClass,
            hostPath: { path, type: "Directory" },
          },
        },
      });
      cleanups.push(() => core.deletePersistentVolume({ name }));
    }

    const remote = await gitRemote(dir);
    cleanups.push(async () => remote.server.close());
    await importFakeReplicaImage(cluster);
    const installed = await installSmith(cluster, namespace, "8m", [
      "--set",
      "etcd.persistence.enabled=true",
      "--set",
      `etcd.persistence.storageClass=${storageClass}`,
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    const claims = (await core.listNamespacedPersistentVolumeClaim({ namespace })).items;
    expect(claims.map((c) => [c.status?.phase, c.spec?.storageClassName])).toEqual(
      Array.from({ length: MEMBERS }, () => ["Bound", storageClass]),
    );

    const access = await releaseAccess(core, namespace);
    const create = async () =>
      (
        await trpc<{ loop: LoopView }>(access, "mutation", "loops.create", {
          spec: {
            repo: { url: `http://${access.nodeIp}:${remote.port}/demo.git` },
            prd: { kind: "inline", content: JSON.stringify(ONE_STORY_PRD) },
            agent: { provider: "claude" },
          },
        })
      ).loop.id;
    const synced = (id: string) =>
      until(`loop ${id} synced`, 180_000, async () => {
        const loop = await trpc<LoopView>(access, "query", "loops.get", { id });
        if (["flatline", "cancelled", "abandoned"].includes(loop.status.state))
          throw new Error(`loop ${id} ended ${loop.status.state}`);
        return loop.status.state === "synced" ? loop : undefined;
      });
    const journal = async (id: string) =>
      (await trpc<{ entries: { seq: number; message: string }[] }>(access, "query", "journal.list", { loopId: id }))
        .entries;

    const first = await create();
    expect((await synced(first)).status.attempt).toBe(1);
    const before = await journal(first);
    expect(before.length).toBeGreaterThan(3);

    // Every member at once, without a grace period: with emptyDir this is the whole database.
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: "app.kubernetes.io/component=etcd" })).items;
    expect(pods).toHaveLength(MEMBERS);
    const uids = new Set(pods.map((p) => p.metadata?.uid));
    await Promise.all(
      pods.map((p) => core.deleteNamespacedPod({ name: p.metadata?.name ?? "", namespace, gracePeriodSeconds: 0 })),
    );
    await until("the etcd members back and ready", 300_000, async () => {
      const set = await apps.readNamespacedStatefulSet({ name: "smith-etcd", namespace });
      const now = (await core.listNamespacedPod({ namespace, labelSelector: "app.kubernetes.io/component=etcd" }))
        .items;
      const fresh = now.filter((p) => !uids.has(p.metadata?.uid));
      return set.status?.readyReplicas === MEMBERS && fresh.length === MEMBERS ? true : undefined;
    });

    // The loop, its state and its whole journal are there; the API serves them again.
    const after = await until("the API answering from the restarted etcd", 120_000, async () => {
      const loop = await trpc<LoopView>(access, "query", "loops.get", { id: first });
      return loop;
    });
    expect(after.status).toMatchObject({ state: "synced", attempt: 1 });
    // The API's etcd connections may still be coming back: each call is retried until it answers.
    const journalAfter = await until("the journal after the restart", 120_000, () => journal(first));
    expect(journalAfter.map((e) => [e.seq, e.message])).toEqual(before.map((e) => [e.seq, e.message]));

    // And the cluster goes on: a new loop runs to synced on the same volumes.
    const second = await until("a loop created after the restart", 120_000, create);
    expect((await synced(second)).status.attempt).toBe(1);
  }, 900_000);
});
