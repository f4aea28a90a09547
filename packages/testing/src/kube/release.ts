import type { CoreV1Api } from "@kubernetes/client-node";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:http";
import { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { serveGit } from "../github/gitHttp.ts";
import type { Cluster } from "./cluster.ts";
import { type HelmResult, helm } from "./helm.ts";

/**
 * What the cluster test (cluster.test.ts) and the cluster benchmark (scripts/bench/cluster.ts)
 * share: Smith's chart installed on the one-node cluster of scripts/cluster.sh with a scripted
 * agent, a git remote the replica Pods reach on the node, and the API reached from the host.
 */
export const CHART_DIR = fileURLToPath(new URL("../../../../helm/smith", import.meta.url));
export const CLUSTER_VALUES = `${CHART_DIR}/ci/cluster-values.yaml`;

/**
 * A scripted Claude Code (the real stream-json events; it writes done-<story>.txt), so that a
 * loop runs in a Job without a model provider. SMITH_CLAUDE_BIN points the replica at it (the
 * scheduler copies that variable into the Jobs).
 */
export const FAKE_CLAUDE = `#!/usr/bin/env node
const fs = require("node:fs");
const prompt = fs.readFileSync(0, "utf8");
const story = (/## Your story: (\\S+):/.exec(prompt) || [])[1] || "unknown";
const emit = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
// A story whose description names a HOLD_URL waits while that URL answers "hold".
const hold = (/HOLD_URL=(\\S+)/.exec(prompt) || [])[1];
// A story whose description says PROBE_ISOLATION first tries what an agent must not be able to do
// (the cluster test's smith-fake-probe, which it adds to the image).
const probe = /PROBE_ISOLATION API=(\\S+) ETCD=(\\S+)/.exec(prompt);
if (probe) require("node:child_process").execFileSync("/usr/local/bin/smith-fake-probe", [probe[1], probe[2]], { stdio: ["ignore", "ignore", "inherit"] });
(async () => {
while (hold) {
  const answer = await fetch(hold).then((r) => r.text(), () => "hold");
  if (answer !== "hold") break;
  await new Promise((r) => setTimeout(r, 500));
}
emit({ type: "system", subtype: "init", session_id: "fake", model: "fake-model", cwd: process.cwd(), tools: ["Write"] });
emit({ type: "assistant", message: { role: "assistant", content: [{ type: "text", text: "Working on " + story }, { type: "tool_use", id: "tu1", name: "Write", input: { file_path: "done-" + story + ".txt", content: "done" } }] } });
fs.writeFileSync("done-" + story + ".txt", "done\\n");
emit({ type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "tu1", content: "written" }] } });
emit({ type: "result", subtype: "success", is_error: false, duration_ms: 10, num_turns: 1, result: "Implemented " + story, session_id: "fake", total_cost_usd: 0.01, usage: { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } });
})();
`;
/** One story for FAKE_CLAUDE, whose quality gate checks the file the agent writes. */
export const ONE_STORY_PRD = {
  project: "cluster",
  qualityGates: ["test -f done-US-001.txt"],
  stories: [
    { id: "US-001", title: "First", status: "open", dependsOn: [], description: "one", acceptanceCriteria: ["x"] },
  ],
};

/** The replica image plus FAKE_CLAUDE at /usr/local/bin/smith-fake-claude. */
export const FAKE_IMAGE = "smith-replica-fake:dev";

/**
 * Builds FAKE_IMAGE on the replica image (Docker's cache) with FAKE_CLAUDE and any further
 * `tools` (file name → script) in /usr/local/bin, and imports it into the cluster.
 */
export async function importFakeReplicaImage(
  cluster: Extract<Cluster, { available: true }>,
  tools: Record<string, string> = {},
): Promise<void> {
  const ctx = mkdtempSync(join(tmpdir(), "smith-fake-replica-"));
  try {
    const files = { "smith-fake-claude": FAKE_CLAUDE, ...tools };
    for (const [name, script] of Object.entries(files)) {
      writeFileSync(join(ctx, name), script);
      chmodSync(join(ctx, name), 0o755);
    }
    writeFileSync(
      join(ctx, "Dockerfile"),
      `FROM smith-replica:dev\nCOPY ${Object.keys(files).join(" ")} /usr/local/bin/\n`,
    );
    await promisify(execFile)("docker", ["build", "-q", "-t", FAKE_IMAGE, ctx], {
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
    });
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  await cluster.importImages([FAKE_IMAGE]);
}

export async function createNamespace(
  core: CoreV1Api,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

/** The labels that make the API server's PodSecurity admission enforce the restricted standard. */
export const RESTRICTED_POD_SECURITY = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
};

/**
 * `helm install smith` of this checkout's chart into `namespace` with ci/cluster-values.yaml, the
 * replicas on FAKE_IMAGE running the scripted agent, local (plain http) repositories allowed;
 * waits until everything is Ready.
 */
export function installSmith(
  cluster: Extract<Cluster, { available: true }>,
  namespace: string,
  timeout = "8m",
  /** More helm arguments (`--set k=v`...), after the ones above. */
  extra: readonly string[] = [],
): Promise<HelmResult> {
  return helm(
    [
      "install",
      "smith",
      CHART_DIR,
      "--namespace",
      namespace,
      "--values",
      CLUSTER_VALUES,
      "--set",
      `replicaImage.repository=${FAKE_IMAGE.split(":")[0]}`,
      // The git remote is plain http on the node.
      "--set-json",
      'api.extraEnv=[{"name":"SMITH_ALLOW_LOCAL_REPOS","value":"true"}]',
      "--set-json",
      'scheduler.extraEnv=[{"name":"SMITH_CLAUDE_BIN","value":"/usr/local/bin/smith-fake-claude"}]',
      ...extra,
      "--wait",
      "--timeout",
      timeout,
    ],
    { env: { KUBECONFIG: cluster.kubeconfigPath } },
  );
}

/** How the host reaches an installed release: the node's address, the API's URL and admin token. */
export interface ReleaseAccess {
  /** The node's InternalIP: where Pods reach servers on the host. */
  nodeIp: string;
  /** The smith-api Service's ClusterIP URL, reachable from the host through kube-proxy's rules. */
  apiUrl: string;
  adminToken: string;
}

export async function releaseAccess(core: CoreV1Api, namespace: string): Promise<ReleaseAccess> {
  const node = (await core.listNode()).items[0];
  const nodeIp = node?.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
  if (!nodeIp) throw new Error("the cluster's node has no InternalIP");
  const service = await core.readNamespacedService({ name: "smith-api", namespace });
  const secret = await core.readNamespacedSecret({ name: "smith-admin-token", namespace });
  return {
    nodeIp,
    apiUrl: `http://${service.spec?.clusterIP}:7070`,
    adminToken: Buffer.from(secret.data?.["admin-token"] ?? "", "base64").toString("utf8"),
  };
}

export function git(args: string[], cwd?: string): string {
  return execFileSync("git", ["-c", "user.name=Smith Test", "-c", "user.email=test@localhost", ...args], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

export interface Hold {
  /** While true, GET /hold answers "hold" (the fake agent waits), else "go". */
  held: boolean;
  /** GETs of /hold so far. */
  asked: number;
}

export interface GitRemote {
  server: Server;
  port: number;
  /** The bare repository, `demo.git` under the directory. */
  bare: string;
  hold: Hold;
}

/**
 * A bare repository with one commit on main, served over git's smart HTTP on every address
 * (anyone may push: the remote exists only for the test), plus the /hold URL of FAKE_CLAUDE.
 */
export async function gitRemote(dir: string): Promise<GitRemote> {
  const bare = join(dir, "demo.git");
  git(["init", "-q", "--bare", "-b", "main", bare]);
  const work = join(dir, "work");
  git(["clone", "-q", bare, work]);
  writeFileSync(join(work, "README.md"), "# cluster demo\n");
  git(["add", "README.md"], work);
  git(["commit", "-q", "-m", "initial"], work);
  git(["push", "-q", "origin", "HEAD:main"], work);
  const hold: Hold = { held: true, asked: 0 };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://remote");
    if (url.pathname === "/hold") {
      hold.asked++;
      res.end(hold.held ? "hold" : "go");
      return;
    }
    serveGit(req, res, { projectRoot: dir, pathInfo: url.pathname, query: url.search.slice(1), remoteUser: "smith" });
  });
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  return { server, port: (server.address() as AddressInfo).port, bare, hold };
}
