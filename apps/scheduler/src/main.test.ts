// The real scheduler process (`node apps/scheduler/src/main.ts`) against a real etcd that is down when it starts.
import { freePort, startEtcd } from "@smith/testing";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

async function status(url: string): Promise<number | "refused"> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return "refused";
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, log: () => string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; the scheduler logged:\n${log()}`);
    await sleep(100);
  }
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("the scheduler process", () => {
  it("started while etcd is down: it waits (healthy, not ready) instead of exiting, and is ready once etcd starts on its port", async () => {
    const etcd = await startEtcd();
    cleanup.push(() => etcd.destroy());
    await etcd.stop();
    const stateDir = mkdtempSync(join(tmpdir(), "smith-scheduler-"));
    cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));

    const port = await freePort();
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        SMITH_ETCD_ENDPOINTS: etcd.endpoint,
        SMITH_SIGNING_KEY: "s".repeat(48),
        SMITH_API_URL: "http://127.0.0.1:9",
        SMITH_STATE_DIR: stateDir,
        SMITH_HEALTH_PORT: String(port),
        SMITH_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
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
    for (let i = 0; i < 3; i++) {
      expect(await status(`${base}/readyz`)).toBe(503);
      await sleep(1_000);
    }
    expect(child.exitCode).toBeNull();
    expect(stderr).toMatch(/etcd unreachable; retrying/);
    expect(stderr).toMatch(/etcd over plain HTTP/);

    await etcd.restart();
    await waitUntil(
      "/readyz is ready",
      async () => (await status(`${base}/readyz`)) === 200,
      30_000,
      () => stderr,
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
