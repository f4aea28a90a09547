import { KubeConfig } from "@kubernetes/client-node";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** `scripts/cluster.sh` of this checkout: a one-node cluster of processes on this machine. */
const CLUSTER_SCRIPT = fileURLToPath(new URL("../../../../scripts/cluster.sh", import.meta.url));
const IMAGES_SCRIPT = fileURLToPath(new URL("../../../../scripts/lib/images.sh", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export type Cluster =
  | {
      available: true;
      /** The admin kubeconfig file (for helm). */
      kubeconfigPath: string;
      kubeConfig: KubeConfig;
      /** Whether `ensureCluster()` brought it up (and `stop()` takes it down). */
      startedHere: boolean;
      /** Seconds `scripts/cluster.sh up` took (0 when it was already up). */
      upSeconds: number;
      /** Imports Docker images (e.g. one a test built) into the cluster's containerd. */
      importImages(images: readonly string[]): Promise<void>;
      /** Takes the cluster down when this process brought it up, then lets the next test file have it. */
      stop(): Promise<void>;
    }
  | { available: false; reason: string };

interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: readonly string[]): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [script, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
      // Builds and the bring-up take minutes: say what happens instead of looking hung.
      if (/^smith(-cluster)?: /m.test(c)) process.stderr.write(c);
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const HOW_TO =
  "They need root, Go >= 1.26 (the Kubernetes components are built from Go modules into ~/.cache/smith, once per machine) " +
  "and a Docker engine for the images (Debian's docker.io; installed and started when root); " +
  "run `sudo scripts/cluster.sh up` to see what is missing.";

function unavailable(reason: string): Cluster {
  const full = `cluster tests skipped: ${reason}. ${HOW_TO}`;
  if (process.env.SMITH_REQUIRE_CLUSTER_TESTS === "1") throw new Error(`SMITH_REQUIRE_CLUSTER_TESTS=1 but ${full}`);
  return { available: false, reason: full };
}

/**
 * The one-node cluster of `scripts/cluster.sh` with Smith's images imported: builds the images
 * (scripts/lib/images.sh) and brings the cluster up unless it already runs. Skips (with the reason)
 * where it cannot run — not root, no Go, no Docker — unless `SMITH_REQUIRE_CLUSTER_TESTS=1`.
 */
/**
 * One cluster per machine, so one test file at a time may use it: vitest runs two files at once,
 * and two `up`s, or one file's `down` under another's test, break both. The lock is an flock held
 * by a `flock` child from ensureCluster() to stop(); a second file waits for it (then brings the
 * cluster up again if the first took it down). It goes with the holding process if that dies.
 */
async function lockCluster(): Promise<() => void> {
  const dir = join(homedir(), ".cache", "smith");
  mkdirSync(dir, { recursive: true });
  const child = spawn("flock", [join(dir, "cluster-tests.lock"), "-c", "echo locked; exec cat >/dev/null"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`flock exited with ${code} before taking the cluster lock`)));
    child.stdout.once("data", () => resolve());
  });
  child.removeAllListeners("exit");
  child.unref();
  return () => child.stdin.end();
}

export async function ensureCluster(): Promise<Cluster> {
  if (process.getuid?.() !== 0) return unavailable("not root (a kubelet and containerd need it)");
  const unlock = await lockCluster();
  try {
    const cluster = await ensureClusterLocked(unlock);
    if (!cluster.available) unlock();
    return cluster;
  } catch (err) {
    unlock();
    throw err;
  }
}

async function ensureClusterLocked(unlock: () => void): Promise<Cluster> {
  // The images of this checkout, built (Docker's cache) and then imported: a running cluster
  // may hold older ones under the same tag.
  const images = await runScript(IMAGES_SCRIPT, []);
  if (images.code === 2) return unavailable("no Docker engine for the images");
  if (images.code !== 0)
    throw new Error(`building the images failed (exit ${images.code}):\n${images.stderr.slice(-4000)}`);
  const status = await runScript(CLUSTER_SCRIPT, ["status"]);
  let startedHere = false;
  let upSeconds = 0;
  let kubeconfigPath = status.code === 0 ? kubeconfigOf(status.stdout) : "";
  if (status.code === 0) {
    const tag = process.env.SMITH_IMAGE_TAG ?? "dev";
    const imported = await runScript(CLUSTER_SCRIPT, [
      "import",
      `smith:${tag}`,
      `smith-replica:${tag}`,
      `smith-etcd:${tag}`,
    ]);
    if (imported.code !== 0)
      throw new Error(`scripts/cluster.sh import failed (exit ${imported.code}):\n${imported.stderr.slice(-4000)}`);
  } else {
    const started = Date.now();
    const up = await runScript(CLUSTER_SCRIPT, ["up"]);
    if (up.code === 2) return unavailable(up.stderr.trim().split("\n").at(-1) ?? "cannot start");
    if (up.code !== 0) {
      const failure = `scripts/cluster.sh up failed (exit ${up.code}):\n${up.stderr.slice(-6000)}`;
      await runScript(CLUSTER_SCRIPT, ["down"]);
      throw new Error(failure);
    }
    startedHere = true;
    upSeconds = Math.round((Date.now() - started) / 1000);
    kubeconfigPath = up.stdout.trim().split("\n").at(-1) ?? "";
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return {
    available: true,
    kubeconfigPath,
    kubeConfig,
    startedHere,
    upSeconds,
    importImages: async (images) => {
      const result = await runScript(CLUSTER_SCRIPT, ["import", ...images]);
      if (result.code !== 0)
        throw new Error(`scripts/cluster.sh import failed (exit ${result.code}):\n${result.stderr.slice(-4000)}`);
    },
    stop: async () => {
      try {
        if (!startedHere) return;
        const down = await runScript(CLUSTER_SCRIPT, ["down"]);
        if (down.code !== 0) throw new Error(`scripts/cluster.sh down failed (exit ${down.code}):\n${down.stderr}`);
      } finally {
        unlock();
      }
    },
  };
}

function kubeconfigOf(statusOut: string): string {
  const line = statusOut.split("\n").find((l) => l.startsWith("kubeconfig: "));
  if (!line) throw new Error(`scripts/cluster.sh status printed no kubeconfig:\n${statusOut}`);
  return line.slice("kubeconfig: ".length).trim();
}
