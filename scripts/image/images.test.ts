import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
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
    expect(health, await docker("logs", id).catch(String)).toMatch(/^200/);
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
    expect(health, await docker("logs", id).catch(String)).toMatch(/^200/);
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
    expect(ready, await docker("logs", id).catch(String)).toMatch(/^200/);
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
});
