import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/** `scripts/lib/k8s.sh` of this checkout: builds kube-apiserver and helm once per machine. */
export const K8S_SCRIPT = fileURLToPath(new URL("../../../../scripts/lib/k8s.sh", import.meta.url));

export type KubeTools =
  | { available: true; kubeApiserver: string; helm: string }
  | {
      available: false;
      /** Why, and how to make the tests run. */
      reason: string;
    };

const HOW_TO =
  "Install Go >= 1.26 (https://go.dev/dl/; /usr/local/go/bin is found without PATH) and run the tests again: " +
  "the first run builds kube-apiserver and helm from their Go modules into ~/.cache/smith/k8s (about 13 minutes on 2 cores, once per machine), " +
  "or build them beforehand with `scripts/lib/k8s.sh`.";

let cached: Promise<KubeTools> | undefined;

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The kube-apiserver and helm binaries, built by `scripts/lib/k8s.sh` when missing (this can take
 * many minutes, once per machine; concurrent callers wait for one build). Without a Go toolchain
 * the answer is `available: false` with a message saying how to run the Kubernetes tests, unless
 * `SMITH_REQUIRE_KUBE_TESTS=1` (CI), which makes a missing toolchain an error.
 */
export function ensureKubeTools(): Promise<KubeTools> {
  cached ??= locate();
  return cached;
}

async function locate(): Promise<KubeTools> {
  const result = await runScript();
  if (result.code === 0) {
    const [kubeApiserver, helm] = result.stdout.trim().split("\n").slice(-2);
    if (kubeApiserver && helm && (await isExecutable(kubeApiserver)) && (await isExecutable(helm)))
      return { available: true, kubeApiserver, helm };
    throw new Error(`${K8S_SCRIPT} printed no usable binaries:\n${result.stdout}\n${result.stderr}`);
  }
  if (result.code === 2) {
    const reason = `Kubernetes tests skipped: Go is not installed. ${HOW_TO}`;
    if (process.env.SMITH_REQUIRE_KUBE_TESTS === "1") throw new Error(`SMITH_REQUIRE_KUBE_TESTS=1 but ${reason}`);
    return { available: false, reason };
  }
  throw new Error(
    `building kube-apiserver/helm with ${K8S_SCRIPT} failed (exit ${result.code}):\n${result.stderr.slice(-4000)}`,
  );
}

function runScript(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [K8S_SCRIPT], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
      // A first build takes minutes: say so instead of looking hung.
      if (c.includes("smith: building")) process.stderr.write(c);
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
