import { createSmithClient } from "@smith/client";
import { freePorts, tmpDirTest as test } from "@smith/testing";
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";

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

describe("smith up", () => {
  test("--demo runs the demo loop to synced without a terminal; a second `up` on the same state dir keeps its loops; SIGTERM leaves no process behind", async ({
    tmpDir,
  }) => {
    const [etcdPort] = await freePorts(1);
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
});
