import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { helmTemplate } from "@smith/testing/kube";
import { freePort, startEtcd, type EtcdServer } from "@smith/testing/standalone";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The images as users run them: built for real (scripts/lib/images.sh, from a debootstrapped base
 * when no registry is reachable), started with `docker run --read-only` as their own non-root
 * user, and asked for /healthz. Skipped with a message when there is no Docker engine, unless
 * SMITH_REQUIRE_IMAGE_TESTS=1 (CI), which makes that an error.
 */
const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = fileURLToPath(new URL("../lib/images.sh", import.meta.url));
const TAG = process.env.SMITH_IMAGE_TAG ?? "dev";

function buildImages(): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [SCRIPT], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
      if (c.startsWith("smith: ")) process.stderr.write(c);
    });
    child.stdout.resume();
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stderr }));
  });
}

const built = await buildImages();
const reason =
  built.code === 2 ? "image tests skipped: no Docker engine here (install docker.io and start dockerd)" : undefined;
if (reason && process.env.SMITH_REQUIRE_IMAGE_TESTS === "1")
  throw new Error(`SMITH_REQUIRE_IMAGE_TESTS=1 but ${reason}`);
if (built.code !== 0 && built.code !== 2)
  throw new Error(`building the images failed (exit ${built.code}):\n${built.stderr.slice(-4000)}`);

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run("docker", args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** A container's state and the end of its log, both streams (etcd logs to stderr), for a failure message. */
async function containerReport(id: string): Promise<string> {
  const state = await docker("inspect", "--format", "{{.State.Status}} exit {{.State.ExitCode}}", id).catch(String);
  const logs = await run("docker", ["logs", "--tail", "60", id], { maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout, stderr }) => `${stdout}${stderr}`.trim(),
    String,
  );
  return `container ${id.slice(0, 12)}: ${state}\n${logs}`;
}

/** Polls `url` until it answers 200 or `ms` pass; returns the last status or error for the message. */
async function waitFor200(url: string, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return last;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

const containers: string[] = [];
async function start(image: string, args: string[], command: string[] = []): Promise<string> {
  // --read-only: the root filesystem as the chart mounts it; /tmp is the one writable place.
  const id = await docker(
    "run",
    "-d",
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--network",
    "host",
    ...args,
    image,
    ...command,
  );
  containers.push(id);
  return id;
}

describe.skipIf(reason !== undefined)("images", () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    for (const id of containers) await docker("rm", "-f", id).catch(() => undefined);
    await etcd?.destroy();
  });

  it("each image runs as a numeric non-root user", async () => {
    for (const image of [`smith:${TAG}`, `smith-replica:${TAG}`, `smith-etcd:${TAG}`]) {
      const user = await docker("image", "inspect", "--format", "{{.Config.User}}", image);
      expect(user, image).toBe("1000:1000");
    }
  });

  it("no image holds a dangling link in node_modules (regression: @smith/config was linked but not copied)", async () => {
    for (const image of [`smith:${TAG}`, `smith-replica:${TAG}`]) {
      const dangling = await docker(
        "run",
        "--rm",
        "--entrypoint",
        "find",
        image,
        "/app/node_modules",
        "-maxdepth",
        "2",
        "-xtype",
        "l",
      );
      expect(dangling, image).toBe("");
    }
  });

  it("smith:<tag> runs the API on a read-only root: /healthz and /readyz (etcd reachable) answer 200", async () => {
    const port = await freePort();
    const id = await start(`smith:${TAG}`, [
      "-e",
      `SMITH_ETCD_ENDPOINTS=${etcd.endpoint}`,
      "-e",
      `SMITH_ETCD_PREFIX=/smith-image-${port}`,
      "-e",
      `SMITH_API_PORT=${port}`,
      "-e",
      `SMITH_SIGNING_KEY=${randomBytes(32).toString("hex")}`,
      "-e",
      `SMITH_ADMIN_TOKEN=${randomBytes(24).toString("hex")}`,
    ]);
    const health = await waitFor200(`http://127.0.0.1:${port}/healthz`);
    expect(health, await containerReport(id)).toMatch(/^200/);
    expect(await waitFor200(`http://127.0.0.1:${port}/readyz`)).toMatch(/^200/);
  });

  it("smith:<tag> runs the scheduler on a read-only root: /healthz answers 200", async () => {
    const port = await freePort();
    const id = await start(
      `smith:${TAG}`,
      [
        "-e",
        `SMITH_ETCD_ENDPOINTS=${etcd.endpoint}`,
        "-e",
        `SMITH_ETCD_PREFIX=/smith-image-${port}`,
        "-e",
        "SMITH_API_URL=http://127.0.0.1:1",
        "-e",
        `SMITH_SIGNING_KEY=${randomBytes(32).toString("hex")}`,
        "-e",
        "SMITH_STATE_DIR=/tmp/state",
        "-e",
        `SMITH_HEALTH_PORT=${port}`,
      ],
      ["smith-scheduler"],
    );
    const health = await waitFor200(`http://127.0.0.1:${port}/healthz`);
    expect(health, await containerReport(id)).toMatch(/^200/);
  });

  it("smith-etcd:<tag> serves a member on a read-only root: /readyz answers 200", async () => {
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
    const id = await start(
      `smith-etcd:${TAG}`,
      ["--tmpfs", "/var/lib/etcd:uid=1000,gid=1000"],
      [
        "--data-dir=/var/lib/etcd/data",
        `--listen-client-urls=http://127.0.0.1:${client}`,
        `--advertise-client-urls=http://127.0.0.1:${client}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=default=http://127.0.0.1:${peer}`,
        `--listen-metrics-urls=http://127.0.0.1:${metrics}`,
      ],
    );
    const ready = await waitFor200(`http://127.0.0.1:${metrics}/readyz`);
    expect(ready, await containerReport(id)).toMatch(/^200/);
  });

  it("smith-etcd:<tag> with the chart's TLS flags and certificates: three members agree over peer TLS; clients only with the client certificate", async () => {
    // The certificates and flags exactly as the chart makes them (helm template, default values).
    const objects = await helmTemplate(fileURLToPath(new URL("../../helm/smith", import.meta.url)), {
      release: "smith",
      namespace: "ns",
    });
    const secret = (name: string) =>
      (
        objects.find((o) => o.kind === "Secret" && o.metadata?.name === name) as unknown as {
          data: Record<string, string>;
        }
      ).data;
    const statefulSet = objects.find((o) => o.kind === "StatefulSet") as unknown as {
      spec: { template: { spec: { containers: { args: string[] }[] } } };
    };
    const tlsArgs = (statefulSet.spec.template.spec.containers[0]?.args ?? []).filter((a) =>
      /^--(peer-)?(cert-file|key-file|trusted-ca-file|client-cert-auth)=/.test(a),
    );
    expect(tlsArgs).toHaveLength(8);
    const dir = mkdtempSync(join(tmpdir(), "smith-etcd-tls-"));
    chmodSync(dir, 0o755);
    const files: Record<string, Record<string, string>> = {};
    for (const [sub, name] of [
      ["server", "smith-etcd-server"],
      ["client", "smith-etcd-client"],
    ] as const) {
      mkdirSync(join(dir, sub), { mode: 0o755 });
      files[sub] = {};
      for (const [key, b64] of Object.entries(secret(name))) {
        const text = Buffer.from(b64, "base64").toString("utf8");
        // Readable by the image's uid 1000, as a Secret volume's files are.
        writeFileSync(join(dir, sub, key), text, { mode: 0o644 });
        files[sub][key] = text;
      }
    }
    const client = files.client ?? {};
    try {
      // With --network host, a port found free can be taken by another test before a member
      // binds it, and that member exits at once: then the three start again on new ports, once.
      const startMembers = async () => {
        const ports = await Promise.all(
          [0, 1, 2].map(async () => [await freePort(), await freePort(), await freePort()]),
        );
        const cluster = ports.map(([, peer], i) => `m${i}=https://127.0.0.1:${peer}`).join(",");
        const ids = await Promise.all(
          ports.map(([clientPort, peer, metrics], i) =>
            start(
              `smith-etcd:${TAG}`,
              ["--tmpfs", "/var/lib/etcd:uid=1000,gid=1000", "-v", `${join(dir, "server")}:/etc/etcd/tls:ro`],
              [
                `--name=m${i}`,
                "--data-dir=/var/lib/etcd/data",
                `--listen-client-urls=https://127.0.0.1:${clientPort}`,
                `--advertise-client-urls=https://127.0.0.1:${clientPort}`,
                `--listen-peer-urls=https://127.0.0.1:${peer}`,
                `--initial-advertise-peer-urls=https://127.0.0.1:${peer}`,
                `--initial-cluster=${cluster}`,
                "--initial-cluster-state=new",
                `--listen-metrics-urls=http://127.0.0.1:${metrics}`,
                ...tlsArgs,
              ],
            ),
          ),
        );
        // Ready means a leader: the members found each other over peer TLS with client certificates.
        const ready = await Promise.all(ports.map(([, , metrics]) => waitFor200(`http://127.0.0.1:${metrics}/readyz`)));
        return { ports, ids, ready };
      };
      let members = await startMembers();
      const exited = async (ids: string[]) =>
        (await Promise.all(ids.map((id) => docker("inspect", "--format", "{{.State.Running}}", id)))).includes("false");
      if (!members.ready.every((r) => r.startsWith("200")) && (await exited(members.ids))) {
        const reports = await Promise.all(members.ids.map(containerReport));
        console.warn(`a member exited; starting the three again on new ports:\n${reports.join("\n")}`);
        for (const id of members.ids) await docker("rm", "-f", id).catch(() => undefined);
        members = await startMembers();
      }
      const { ports, ids, ready } = members;
      for (const [i, answer] of ready.entries()) expect(answer, await containerReport(ids[i] ?? "")).toMatch(/^200/);
      const call = (port: number, path: string, body: object, withCert = true) =>
        new Promise<string>((resolve) => {
          const req = request(
            {
              host: "127.0.0.1",
              port,
              path,
              method: "POST",
              ca: client["ca.crt"],
              ...(withCert ? { cert: client["tls.crt"], key: client["tls.key"] } : {}),
              timeout: 3_000,
            },
            (res) => {
              let text = "";
              res.on("data", (b: Buffer) => (text += b.toString()));
              res.on("end", () => resolve(`${res.statusCode} ${text}`));
            },
          );
          req.on("timeout", () => req.destroy(new Error("timeout")));
          req.on("error", (err) => resolve(`error ${err.message}`));
          req.end(JSON.stringify(body));
        });
      const b64 = (s: string) => Buffer.from(s).toString("base64");
      const [first, , third] = ports.map(([clientPort]) => clientPort ?? 0);
      expect(await call(first ?? 0, "/v3/kv/put", { key: b64("k"), value: b64("over peer TLS") })).toMatch(/^200 /);
      // Written on one member, read on another: replicated over the peers' TLS.
      expect(await call(third ?? 0, "/v3/kv/range", { key: b64("k") })).toContain(b64("over peer TLS"));
      expect(await call(first ?? 0, "/v3/kv/range", { key: b64("k") }, false)).toMatch(/^error /);
      const plain = await fetch(`http://127.0.0.1:${first}/health`, { signal: AbortSignal.timeout(3_000) }).then(
        (r) => `${r.status}`,
        (err: unknown) => `error ${String(err)}`,
      );
      expect(plain).not.toBe("200");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("smith-replica:<tag> has git, Node, the replica and the agent CLIs on a read-only root", async () => {
    const out = await docker(
      "run",
      "--rm",
      "--read-only",
      "--tmpfs",
      "/tmp",
      "--entrypoint",
      "sh",
      `smith-replica:${TAG}`,
      "-c",
      "git --version && node --version && claude --version && codex --version && test -f /app/apps/replica/src/main.ts && id -u",
    );
    expect(out).toMatch(/git version/);
    expect(out).toMatch(/v24\./);
    expect(out.trim().split("\n").at(-1)).toBe("1000");
  });

  it("smith-replica:<tag> starts the replica, which refuses to run without its env (a clear error, not a crash)", async () => {
    const result = await run("docker", ["run", "--rm", "--read-only", "--tmpfs", "/tmp", `smith-replica:${TAG}`], {
      maxBuffer: 1024 * 1024,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? "" }),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/SMITH_/);
    expect(result.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
  });

  it("smith-replica:<tag> has the agent container's user (uid 1001, the replica's group) and smith-agent-runner, which serves its socket as that uid", async () => {
    // As the executor runs it: uid 1001, read-only root, a socket directory of its own.
    const out = await docker(
      "run",
      "--rm",
      "--read-only",
      "--tmpfs",
      "/tmp",
      "--tmpfs",
      "/run/runner",
      "--user",
      "1001:1000",
      "-e",
      "HOME=/tmp",
      "-e",
      "SMITH_AGENT_RUNNER_SOCKET=/run/runner/agent.sock",
      "-e",
      "SMITH_AGENT_RUNNER_ROOT=/tmp",
      "--entrypoint",
      "sh",
      `smith-replica:${TAG}`,
      "-c",
      "id -un; smith-agent-runner & for i in $(seq 100); do test -S /run/runner/agent.sock && break; sleep 0.1; done; stat -c '%u %a' /run/runner/agent.sock; kill $!",
    );
    expect(out.trim().split("\n")).toEqual(["smith-agent", "1001 666"]);
  });
});
