// The real API process (`node apps/api/src/main.ts`) against a real etcd that is down when it starts.
import { freePort, startEtcd, type EtcdServer } from "@smith/testing";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const ADMIN_TOKEN = "test-admin-token-0123456789";

async function status(url: string, init?: RequestInit): Promise<number | "refused"> {
  try {
    return (await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return "refused";
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, log: () => string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; the API logged:\n${log()}`);
    await sleep(100);
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("the API process", () => {
  it("started while etcd is down: /healthz answers, /readyz says not ready, and it becomes ready once etcd starts on its port", async () => {
    const etcd: EtcdServer = await startEtcd();
    cleanup.push(() => etcd.destroy());
    await etcd.stop();

    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        SMITH_ETCD_ENDPOINTS: etcd.endpoint,
        SMITH_API_PORT: String(port),
        SMITH_SIGNING_KEY: "s".repeat(48),
        SMITH_ADMIN_TOKEN: ADMIN_TOKEN,
        SMITH_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    cleanup.push(async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    });
    const base = `http://127.0.0.1:${port}`;

    await waitUntil(
      "/healthz answers",
      async () => (await status(`${base}/healthz`)) === 200,
      20_000,
      () => stderr,
    );
    // Down for a while: the process keeps waiting (it used to exit 1 on the bootstrap write).
    for (let i = 0; i < 3; i++) {
      expect(await status(`${base}/readyz`)).toBe(503);
      await sleep(1_000);
    }
    expect(child.exitCode).toBeNull();
    expect(stderr).toMatch(/etcd unreachable; waiting/);
    // A plain-HTTP etcd is allowed, with a warning at start.
    expect(stderr).toMatch(/etcd over plain HTTP/);

    await etcd.restart();
    await waitUntil(
      "/readyz is ready",
      async () => (await status(`${base}/readyz`)) === 200,
      30_000,
      () => stderr,
    );
    // The bootstrap admin token was stored once etcd answered: an authenticated call works.
    const list = `${base}/trpc/loops.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`;
    expect(await status(list, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).toBe(200);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("a SIGTERM while it waits for etcd ends it with 0", async () => {
    const etcd = await startEtcd();
    cleanup.push(() => etcd.destroy());
    await etcd.stop();
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        SMITH_ETCD_ENDPOINTS: etcd.endpoint,
        SMITH_API_PORT: String(port),
        SMITH_SIGNING_KEY: "s".repeat(48),
      },
      stdio: "ignore",
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    cleanup.push(async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    });
    await waitUntil(
      "/healthz answers",
      async () => (await status(`http://127.0.0.1:${port}/healthz`)) === 200,
      20_000,
      () => "",
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
