import { createSmithClient } from "@smith/client";
import { freePortPair, tmpDirTest as test } from "@smith/testing";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { loadOrCreateEtcdCerts } from "./etcdCerts.ts";
import { EtcdProcess } from "./etcdProcess.ts";

const SMITH = resolve(fileURLToPath(import.meta.url), "../smith.ts");

interface Run {
  output: () => string;
  exited: Promise<number | null>;
  kill: (signal: NodeJS.Signals) => void;
  pid: number;
}

function smith(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, [SMITH, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  return {
    output: () => out,
    exited: new Promise((r) => child.on("exit", (code) => r(code))),
    kill: (s) => child.kill(s),
    pid: child.pid ?? 0,
  };
}

async function until(check: () => boolean, ms: number, what: string, run: Run): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}:\n${run.output()}`);
}

/** Processes whose command line mentions the state dir (etcd, replicas): none may outlive `smith up`. */
function processesUsing(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirPids()) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      const state = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (cmd.includes(dir) && state.slice(state.lastIndexOf(")") + 2)[0] !== "Z") out.push(`${pid} ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

function readdirPids(): string[] {
  return readdirSync("/proc").filter((n) => /^\d+$/.test(n));
}

/** The pid of the private etcd of the stack on `stateDir`. */
function etcdPid(stateDir: string): number {
  const found = processesUsing(stateDir).filter((p) => p.includes(`--data-dir=${join(stateDir, "etcd")}`));
  if (found.length !== 1) throw new Error(`expected one etcd on ${stateDir}, found ${JSON.stringify(found)}`);
  return Number(found[0]?.split(" ")[0]);
}

/** Milliseconds until the run exits, or the deadline (then it is killed and the test fails). */
async function exitsWithin(run: Run, ms: number): Promise<{ code: number | null; ms: number }> {
  const start = Date.now();
  const timer = setTimeout(() => run.kill("SIGKILL"), ms);
  const code = await run.exited;
  clearTimeout(timer);
  const took = Date.now() - start;
  if (took >= ms) throw new Error(`smith up did not exit within ${ms} ms:\n${run.output()}`);
  return { code, ms: took };
}

/** Kills whatever a failed test left behind on `stateDir` (a stopped etcd is continued first). */
function killLeftovers(stateDir: string): void {
  for (const p of processesUsing(stateDir)) {
    const pid = Number(p.split(" ")[0]);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

async function startedStack(tmpDir: string, demo: boolean): Promise<{ run: Run; stateDir: string }> {
  const etcdPort = await freePortPair();
  mkdirSync(tmpDir, { recursive: true });
  const stateDir = join(tmpDir, "state");
  const env = { HOME: tmpDir, SMITH_CONFIG: join(tmpDir, "config.json") };
  const args = ["--state-dir", stateDir, "--api-port", "0", "--etcd-port", String(etcdPort)];
  const run = smith(["up", ...(demo ? ["--demo"] : []), ...args], env);
  return { run, stateDir };
}

describe("smith up", () => {
  test("--demo runs the demo loop to synced without a terminal; a second `up` on the same state dir keeps its loops; SIGTERM leaves no process behind", async ({
    tmpDir,
  }) => {
    const etcdPort = await freePortPair();
    const stateDir = join(tmpDir, "state");
    const env = { HOME: tmpDir, SMITH_CONFIG: join(tmpDir, "config.json") };
    const args = ["--state-dir", stateDir, "--api-port", "0", "--etcd-port", String(etcdPort)];

    const demo = smith(["up", "--demo", ...args], env);
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toMatch(/demo\s+synced \(all-stories-passed\): 3\/3 stories/);
    expect(demo.output()).toMatch(/stopping etcd/);
    // The private etcd speaks TLS with client certificates only; no plain-HTTP warning.
    expect(demo.output()).toMatch(new RegExp(`etcd +https://127\\.0\\.0\\.1:${etcdPort} `));
    expect(demo.output()).not.toMatch(/plain HTTP/);
    // etcd's certificate is checked as localhost: no IP sent as a TLS server name (Node's DEP0123).
    expect(demo.output()).not.toMatch(/DEP0123|TLS ServerName/);
    // As root the agents (and the demo's gates) run as the unprivileged smith-agent by default.
    if (process.getuid?.() === 0) expect(demo.output()).toMatch(/^agents {6}run as smith-agent \(uid \d+\)/m);
    else expect(demo.output()).toMatch(/^warning {5}not root: agents run as this user/m);
    expect(processesUsing(stateDir)).toEqual([]);

    const again = smith(["up", ...args], env);
    await until(() => /running\s+Ctrl-C to stop/.test(again.output()), 30_000, "the second stack", again);
    const config = JSON.parse(readFileSync(env.SMITH_CONFIG, "utf8")) as {
      currentContext: string;
      contexts: Record<string, { url: string; tokenFile: string }>;
    };
    expect(config.currentContext).toBe("local");
    const local = config.contexts.local;
    if (!local) throw new Error("no local context");
    const client = createSmithClient({ url: local.url, token: readFileSync(local.tokenFile, "utf8").trim() });
    const loops = await client.loops.list.query();
    expect(loops.items.map((l) => [l.spec.title, l.status.state])).toEqual([["demo: calc", "synced"]]);

    again.kill("SIGTERM");
    expect(await again.exited).toBe(0);
    expect(again.output()).toMatch(/stopping scheduler and replicas[\s\S]*stopping api[\s\S]*stopping etcd/);
    expect(processesUsing(stateDir)).toEqual([]);
  });

  test("its etcd killed (-9) while the demo loop runs: one line naming etcd, exit 1 within 25 s, the replica stopped, no process left", async ({
    tmpDir,
  }) => {
    const { run, stateDir } = await startedStack(tmpDir, true);
    try {
      await until(() => /attempt 1 scheduled/.test(run.output()), 60_000, "the demo loop's replica", run);
      process.kill(etcdPid(stateDir), "SIGKILL");
      const { code } = await exitsWithin(run, 25_000);
      expect(code).toBe(1);
      const told = run
        .output()
        .split("\n")
        .filter((l) => l.includes("exited unexpectedly"));
      expect(told).toEqual([
        expect.stringMatching(
          new RegExp(
            `^error {7}etcd \\(pid \\d+\\) exited unexpectedly \\(signal SIGKILL\\); its log: ${join(stateDir, "etcd", "etcd.log")}: stopping the stack$`,
          ),
        ),
      ]);
      expect(run.output()).toMatch(/stopping scheduler and replicas[\s\S]*stopping api[\s\S]*stopping etcd/);
      expect(processesUsing(stateDir)).toEqual([]);
    } finally {
      killLeftovers(stateDir);
    }
  }, 120_000);

  test("SIGTERM while its etcd is stopped (SIGSTOP): exit 0 within 25 s, etcd gone; a second SIGTERM exits at once, killing etcd", async ({
    tmpDir,
  }) => {
    const first = await startedStack(join(tmpDir, "a"), false);
    try {
      await until(() => /running\s+Ctrl-C to stop/.test(first.run.output()), 60_000, "the stack", first.run);
      process.kill(etcdPid(first.stateDir), "SIGSTOP");
      first.run.kill("SIGTERM");
      const { code } = await exitsWithin(first.run, 25_000);
      expect(code).toBe(0);
      expect(first.run.output()).toMatch(/received SIGTERM[\s\S]*stopping etcd/);
      expect(processesUsing(first.stateDir)).toEqual([]);
    } finally {
      killLeftovers(first.stateDir);
    }

    const second = await startedStack(join(tmpDir, "b"), false);
    try {
      await until(() => /running\s+Ctrl-C to stop/.test(second.run.output()), 60_000, "the stack", second.run);
      process.kill(etcdPid(second.stateDir), "SIGSTOP");
      second.run.kill("SIGTERM");
      await until(() => /stopping /.test(second.run.output()), 10_000, "the stop", second.run);
      second.run.kill("SIGTERM");
      const { code, ms } = await exitsWithin(second.run, 5_000);
      expect(code).toBe(130);
      expect(ms).toBeLessThan(3_000);
      expect(second.run.output()).toMatch(/second SIGTERM: killing etcd and the replicas, exiting now/);
      await expect.poll(() => processesUsing(second.stateDir), { timeout: 3_000 }).toEqual([]);
    } finally {
      killLeftovers(second.stateDir);
    }
  }, 180_000);

  test("--etcd with an external TLS etcd: the client certificate from SMITH_ETCD_CA/CERT/KEY_FILE, no plain-HTTP warning", async ({
    tmpDir,
  }) => {
    const etcdPort = await freePortPair();
    const certs = loadOrCreateEtcdCerts(join(tmpDir, "external"));
    const external = new EtcdProcess({
      dir: join(tmpDir, "external", "etcd"),
      clientPort: etcdPort,
      peerPort: etcdPort + 1,
      env: { PATH: process.env.PATH ?? "" },
      tls: certs,
    });
    await external.start();
    const stateDir = join(tmpDir, "state");
    const run = smith(["up", "--state-dir", stateDir, "--api-port", "0", "--etcd", external.endpoint], {
      HOME: tmpDir,
      SMITH_CONFIG: join(tmpDir, "config.json"),
      SMITH_ETCD_CA_FILE: certs.caFile,
      SMITH_ETCD_CERT_FILE: certs.clientCertFile,
      SMITH_ETCD_KEY_FILE: certs.clientKeyFile,
    });
    try {
      await until(() => /running\s+Ctrl-C to stop/.test(run.output()), 60_000, "the stack on the external etcd", run);
      expect(run.output()).toContain(
        `etcd        ${external.endpoint} (external, with the client certificate of SMITH_ETCD_CERT)`,
      );
      expect(run.output()).not.toMatch(/plain HTTP/);
      run.kill("SIGTERM");
      expect((await exitsWithin(run, 25_000)).code).toBe(0);
      expect(processesUsing(stateDir)).toEqual([]);
    } finally {
      killLeftovers(stateDir);
      await external.stop();
    }
  }, 120_000);

  test("etcd's peer port taken: `up` exits 1 with etcd's own reason on the terminal, and no process left", async ({
    tmpDir,
  }) => {
    const etcdPort = await freePortPair();
    // Someone else's socket on the peer port (etcdPort + 1).
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen({ port: etcdPort + 1, host: "127.0.0.1", exclusive: true }, r));
    try {
      const stateDir = join(tmpDir, "state");
      const args = ["--state-dir", stateDir, "--api-port", "0", "--etcd-port", String(etcdPort)];
      const run = smith(["up", ...args], { HOME: tmpDir, SMITH_CONFIG: join(tmpDir, "config.json") });
      const { code } = await exitsWithin(run, 60_000);
      expect(code).toBe(1);
      expect(run.output()).toMatch(
        new RegExp(`etcd exited \\(code 1\\): .*127\\.0\\.0\\.1:${etcdPort + 1}: bind: address already in use; see `),
      );
      expect(processesUsing(stateDir)).toEqual([]);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });
});
