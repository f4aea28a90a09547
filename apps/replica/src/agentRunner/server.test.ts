import { AgentRunnerError, ClaudeCodeAdapter, pingRunner, runProcess } from "@smith/agents";
import type { AgentEvent } from "@smith/core";
import { silentLogger } from "@smith/logger";
import { tmpDirTest as test } from "@smith/testing";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, onTestFinished } from "vitest";
import { waitForRunner } from "../retry.ts";
import { AgentRunnerServer } from "./server.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const ENV = { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, LANG: "C.UTF-8" };

function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/usr/bin/env node\n"use strict";\nconst fs = require("node:fs");\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A runner in this process serving `<tmp>/work`, with its own HOME and TMPDIR under `<tmp>/agent`. */
async function startRunner(tmpDir: string): Promise<{ socketPath: string; root: string; server: AgentRunnerServer }> {
  const root = join(tmpDir, "work");
  mkdirSync(join(tmpDir, "agent", "tmp"), { recursive: true });
  mkdirSync(root, { recursive: true });
  const socketPath = join(tmpDir, "runner.sock");
  const server = new AgentRunnerServer({
    socketPath,
    root,
    env: { HOME: join(tmpDir, "agent"), TMPDIR: join(tmpDir, "agent", "tmp") },
    sweep: false,
    log: silentLogger,
  });
  await server.start();
  onTestFinished(() => server.stop());
  return { socketPath, root, server };
}

/** Waits for a grandchild's pid the script wrote. */
async function pidFrom(file: string): Promise<number> {
  await until(() => existsSync(file) && readFileSync(file, "utf8").length > 0);
  return Number(readFileSync(file, "utf8"));
}

/** Starts a stray grandchild in the command's process group and writes its pid, then waits. */
const LEAVE_GRANDCHILD = `
const { spawn } = require("node:child_process");
const child = spawn("sleep", ["1000"], { stdio: "ignore" });
fs.writeFileSync(process.env.PID_FILE, String(child.pid));
process.stdout.write("started\\n");
setInterval(() => {}, 1000);`;

describe("the agent runner (runProcess through a unix socket)", () => {
  test("delivers the same lines and result as runProcess run locally", async ({ tmpDir }) => {
    const { socketPath, root } = await startRunner(tmpDir);
    const talk = script(
      root,
      "talk",
      `process.stdout.write("first\\n"); process.stderr.write("err line\\n"); process.stdout.write("x".repeat(3000) + "\\nlast"); process.exit(3);`,
    );
    const options = {
      command: talk,
      args: [],
      cwd: root,
      env: ENV,
      timeoutMs: 10_000,
      maxLineBytes: 1000,
      outputTailBytes: 512,
    };
    const localLines: string[] = [];
    const remoteLines: string[] = [];
    const local = await runProcess({ ...options, onLine: (s, l) => localLines.push(`${s}:${l}`) });
    const remote = await runProcess({
      ...options,
      runner: { socketPath },
      onLine: (s, l) => remoteLines.push(`${s}:${l}`),
    });
    // outputTail keeps stdout and stderr in arrival order, which two pipes do not fix (the
    // stderr line may come before or after the long stdout line, locally as well as remotely):
    // the same bytes, in some order, and the same length.
    const { outputTail: localTail, ...localRest } = local;
    const { outputTail: remoteTail, ...remoteRest } = remote;
    expect(remoteRest).toEqual({ ...localRest, durationMs: remote.durationMs });
    expect(remoteTail?.length).toBe(localTail?.length);
    expect(remoteTail).toMatch(/x+\n?last/);
    expect(remote).toMatchObject({ exitCode: 3, signal: null, timedOut: false, cancelled: false });
    expect(remoteLines.sort()).toEqual(localLines.sort());
    expect(remoteLines).toContain("stdout:last");
    expect(remoteLines.find((l) => l.startsWith("stdout:xxx"))).toMatch(/truncated/);
  });

  test("runs in the runner's HOME and TMPDIR, whatever the replica sends; stdin reaches the command", async ({
    tmpDir,
  }) => {
    const { socketPath, root } = await startRunner(tmpDir);
    const env = script(
      root,
      "env",
      `const input = fs.readFileSync(0, "utf8"); console.log(JSON.stringify({ home: process.env.HOME, tmp: process.env.TMPDIR, key: process.env.KEY, input, cwd: process.cwd() }));`,
    );
    const lines: string[] = [];
    const r = await runProcess({
      command: env,
      args: [],
      cwd: root,
      env: { ...ENV, HOME: "/home/replica", TMPDIR: "/replica/tmp", KEY: "value" },
      stdin: "the prompt",
      timeoutMs: 10_000,
      runner: { socketPath },
      onLine: (_s, l) => lines.push(l),
    });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(lines[0] ?? "{}")).toEqual({
      home: join(tmpDir, "agent"),
      tmp: join(tmpDir, "agent", "tmp"),
      key: "value",
      input: "the prompt",
      cwd: root,
    });
  });

  test("a timeout kills the command's whole process group, as locally", async ({ tmpDir }) => {
    const { socketPath, root } = await startRunner(tmpDir);
    const hang = script(root, "hang", LEAVE_GRANDCHILD);
    const pidFile = join(tmpDir, "pid");
    const r = await runProcess({
      command: hang,
      args: [],
      cwd: root,
      env: { ...ENV, PID_FILE: pidFile },
      timeoutMs: 1_000,
      killGraceMs: 200,
      runner: { socketPath },
    });
    expect(r).toMatchObject({ timedOut: true, cancelled: false, exitCode: null, signal: "SIGTERM" });
    expect(await gone(await pidFrom(pidFile))).toBe(true);
  });

  test("an abort is sent as cancel: the result says cancelled and the process group is gone", async ({ tmpDir }) => {
    const { socketPath, root } = await startRunner(tmpDir);
    const hang = script(root, "hang", LEAVE_GRANDCHILD);
    const pidFile = join(tmpDir, "pid");
    const controller = new AbortController();
    const lines: string[] = [];
    const running = runProcess({
      command: hang,
      args: [],
      cwd: root,
      env: { ...ENV, PID_FILE: pidFile },
      timeoutMs: 60_000,
      killGraceMs: 200,
      signal: controller.signal,
      runner: { socketPath },
      onLine: (_s, l) => lines.push(l),
    });
    const grandchild = await pidFrom(pidFile);
    await until(() => lines.includes("started"));
    controller.abort();
    expect(await running).toMatchObject({ cancelled: true, timedOut: false, exitCode: null });
    expect(await gone(grandchild)).toBe(true);
  });

  test("a replica that goes away mid-command (its connection closes) takes the command with it", async ({ tmpDir }) => {
    const { socketPath, root } = await startRunner(tmpDir);
    const hang = script(root, "hang", LEAVE_GRANDCHILD);
    const pidFile = join(tmpDir, "pid");
    const socket = connect(socketPath);
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.write(
      `${JSON.stringify({ type: "run", command: hang, args: [], cwd: root, env: { ...ENV, PID_FILE: pidFile }, timeoutMs: 60_000, killGraceMs: 200, maxLineBytes: 1024, stderrTailBytes: 1024 })}\n`,
    );
    const grandchild = await pidFrom(pidFile);
    socket.destroy();
    expect(await gone(grandchild)).toBe(true);
  });

  test("Claude Code's adapter runs through the runner with the same call: events from stream-json, usage, exit", async ({
    tmpDir,
  }) => {
    const { socketPath, root } = await startRunner(tmpDir);
    const claude = script(
      tmpDir,
      "claude",
      `const prompt = fs.readFileSync(0, "utf8");
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
out({ type: "system", subtype: "init", session_id: "s", model: "m", cwd: process.cwd(), tools: [] });
out({ type: "assistant", message: { role: "assistant", content: [{ type: "text", text: "uid " + process.getuid() + ": " + prompt }] } });
out({ type: "result", subtype: "success", is_error: false, duration_ms: 5, num_turns: 1, result: "done", session_id: "s", total_cost_usd: 0.02, usage: { input_tokens: 7, output_tokens: 3 } });`,
    );
    const events: AgentEvent[] = [];
    const result = await new ClaudeCodeAdapter({ binary: claude }).run({
      prompt: "hello",
      cwd: root,
      env: ENV,
      timeoutMs: 10_000,
      storyId: "US-1",
      runner: { socketPath },
      onEvent: (e) => events.push(e),
    });
    expect(result).toMatchObject({ exitCode: 0, isError: false, inputTokens: 7, outputTokens: 3, usd: 0.02 });
    expect(events).toContainEqual(expect.objectContaining({ type: "text", text: `uid ${process.getuid?.()}: hello` }));
  });

  test("refuses a cwd outside its root and malformed requests, running nothing", async ({ tmpDir }) => {
    const { socketPath } = await startRunner(tmpDir);
    const marker = join(tmpDir, "ran");
    await expect(
      runProcess({
        command: "/bin/sh",
        args: ["-c", `touch ${marker}`],
        cwd: tmpDir,
        env: ENV,
        timeoutMs: 10_000,
        runner: { socketPath },
      }),
    ).rejects.toThrow(/refused the request: cwd must be inside/);
    await expect(
      runProcess({
        command: "/bin/sh",
        args: ["-c", `touch ${marker}`],
        cwd: join(tmpDir, "work", "..", ".."),
        env: ENV,
        timeoutMs: 10_000,
        runner: { socketPath },
      }),
    ).rejects.toThrow(AgentRunnerError);
    await expect(
      runProcess({
        command: "/bin/sh",
        args: ["-c", `touch ${marker}`],
        cwd: join(tmpDir, "work"),
        env: ENV,
        timeoutMs: 0,
        runner: { socketPath },
      }),
    ).rejects.toThrow(/timeoutMs/);
    expect(existsSync(marker)).toBe(false);
  });

  test("an unreachable runner rejects at once with AgentRunnerError naming the socket", async ({ tmpDir }) => {
    const socketPath = join(tmpDir, "none.sock");
    const started = Date.now();
    await expect(
      runProcess({ command: "true", args: [], cwd: tmpDir, env: ENV, timeoutMs: 60_000, runner: { socketPath } }),
    ).rejects.toThrow(new RegExp(`agent runner at ${socketPath}: .*ENOENT`));
    await expect(pingRunner(socketPath)).rejects.toBeInstanceOf(AgentRunnerError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe("waitForRunner (the replica's start)", () => {
  test("waits for a runner that starts late, and gives up with AgentRunnerError on one that never does", async ({
    tmpDir,
  }) => {
    const late = setTimeout(() => void startRunner(tmpDir), 400);
    onTestFinished(() => clearTimeout(late));
    expect(await waitForRunner(join(tmpDir, "runner.sock"), 10_000)).toEqual({
      uid: process.getuid?.(),
      gid: process.getgid?.(),
    });
    const started = Date.now();
    await expect(waitForRunner(join(tmpDir, "none.sock"), 500)).rejects.toBeInstanceOf(AgentRunnerError);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe("smith-agent-runner (the entrypoint, as a process)", () => {
  function startMain(tmpDir: string, extra: Record<string, string> = {}): { child: ChildProcess; socketPath: string } {
    const socketPath = join(tmpDir, "runner.sock");
    mkdirSync(join(tmpDir, "work"), { recursive: true });
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...ENV,
        HOME: tmpDir,
        SMITH_AGENT_RUNNER_SOCKET: socketPath,
        SMITH_AGENT_RUNNER_ROOT: join(tmpDir, "work"),
        SMITH_LOG_LEVEL: "warn",
        ...extra,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    onTestFinished(() => {
      child.kill("SIGKILL");
    });
    return { child, socketPath };
  }

  test("answers ping with its uid, runs with umask 002, and exits 0 on SIGTERM", async ({ tmpDir }) => {
    const { child, socketPath } = startMain(tmpDir);
    await until(() => existsSync(socketPath), 10_000);
    expect(await pingRunner(socketPath)).toEqual({ uid: process.getuid?.(), gid: process.getgid?.() });
    const r = await runProcess({
      command: "/bin/sh",
      args: ["-c", "touch made && stat -c %a made"],
      cwd: join(tmpDir, "work"),
      env: ENV,
      timeoutMs: 10_000,
      runner: { socketPath },
      outputTailBytes: 100,
    });
    expect(r.outputTail).toBe("664\n");
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  test("a runner killed mid-command fails the call with AgentRunnerError instead of hanging", async ({ tmpDir }) => {
    const { child, socketPath } = startMain(tmpDir);
    await until(() => existsSync(socketPath), 10_000);
    const lines: string[] = [];
    const running = runProcess({
      command: "/bin/sh",
      args: ["-c", "echo started; sleep 30"],
      cwd: join(tmpDir, "work"),
      env: ENV,
      timeoutMs: 60_000,
      runner: { socketPath },
      onLine: (_s, l) => lines.push(l),
    });
    await until(() => lines.includes("started"), 10_000);
    child.kill("SIGKILL");
    await expect(running).rejects.toThrow(/closed before the result/);
  });

  test("refuses to start with a missing variable, naming it", async ({ tmpDir }) => {
    const child = spawn(process.execPath, [MAIN], { env: { ...ENV, HOME: tmpDir }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    expect(code).toBe(1);
    expect(stderr).toContain("SMITH_AGENT_RUNNER_SOCKET");
  });
});
