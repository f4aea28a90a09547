import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpDirTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { runProcess } from "./process.ts";
import { fakePath, waitGone, writeNodeScript } from "./testSupport.ts";

const ENV = { PATH: fakePath(), LANG: "C.UTF-8" };

describe("runProcess", () => {
  test("delivers lines while the process runs, and its exit code", async ({ tmpDir }) => {
    const script = await writeNodeScript(
      tmpDir,
      "talk",
      `process.stdout.write("first\\n"); setTimeout(() => { process.stdout.write("second\\r\\nno newline"); process.stderr.write("err line\\n"); process.exit(3); }, 300);`,
    );
    const started = Date.now();
    const lines: Array<{ stream: string; line: string; at: number }> = [];
    const result = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 10_000,
      onLine: (stream, line) => lines.push({ stream, line, at: Date.now() }),
    });
    expect(result).toMatchObject({
      exitCode: 3,
      signal: null,
      timedOut: false,
      cancelled: false,
      stderrTail: "err line\n",
    });
    // Order holds within a stream; the two pipes are read independently.
    expect(lines.filter((l) => l.stream === "stdout").map((l) => l.line)).toEqual(["first", "second", "no newline"]);
    expect(lines.filter((l) => l.stream === "stderr").map((l) => l.line)).toEqual(["err line"]);
    // The first line arrived before the process ended (it sleeps 300 ms after printing it).
    expect(lines[0]?.at ?? Infinity).toBeLessThan(started + result.durationMs - 200);
  });

  test("outputTail keeps the end of stdout and stderr together, bounded with a marker", async ({ tmpDir }) => {
    const script = await writeNodeScript(
      tmpDir,
      "both",
      `process.stdout.write("x".repeat(5000) + "\\n"); setTimeout(() => { process.stderr.write("FAIL one\\n"); setTimeout(() => { process.stdout.write("1 failed\\n"); process.exit(1); }, 50); }, 50);`,
    );
    const result = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 10_000,
      outputTailBytes: 1024,
    });
    expect(result.exitCode).toBe(1);
    expect(result.outputTail).toMatch(/^\[… \d+ bytes truncated …\]\n/);
    expect(result.outputTail?.endsWith("FAIL one\n1 failed\n")).toBe(true);
    expect(Buffer.byteLength(result.outputTail ?? "")).toBeLessThanOrEqual(1024);
    expect(result.stderrTail).toBe("FAIL one\n");
  });

  test("passes exactly the given environment and writes stdin", async ({ tmpDir }) => {
    const script = await writeNodeScript(
      tmpDir,
      "env",
      `const input = require("node:fs").readFileSync(0, "utf8"); console.log(JSON.stringify({ env: process.env, input }));`,
    );
    let output = "";
    const result = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: { ...ENV, ONLY_THIS: "1" },
      stdin: "the prompt ✓",
      timeoutMs: 10_000,
      onLine: (_stream, line) => (output += line),
    });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(output)).toEqual({ env: { ...ENV, ONLY_THIS: "1" }, input: "the prompt ✓" });
  });

  test("kills the whole process tree at the timeout, escalating to SIGKILL", async ({ tmpDir }) => {
    const pidFile = join(tmpDir, "grandchild.pid");
    const script = await writeNodeScript(
      tmpDir,
      "hang",
      `const { spawn } = require("node:child_process");
       process.on("SIGTERM", () => {}); // only SIGKILL stops it
       const child = spawn("sleep", ["1000"], { stdio: "inherit" });
       require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
       console.log("started");
       setInterval(() => {}, 1000);`,
    );
    const result = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 500,
      killGraceMs: 300,
    });
    expect(result).toMatchObject({ exitCode: null, signal: "SIGKILL", timedOut: true, cancelled: false });
    expect(result.durationMs).toBeGreaterThanOrEqual(750);
    const grandchild = Number(await readFile(pidFile, "utf8"));
    expect(await waitGone(grandchild)).toBe(true);
  });

  test("abort kills the tree and reports cancelled; an aborted signal never starts it", async ({ tmpDir }) => {
    const pidFile = join(tmpDir, "grandchild.pid");
    const script = await writeNodeScript(
      tmpDir,
      "hang",
      `const child = require("node:child_process").spawn("sleep", ["1000"], { stdio: "inherit" });
       require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
       console.log("started");
       setInterval(() => {}, 1000);`,
    );
    const controller = new AbortController();
    const result = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 30_000,
      signal: controller.signal,
      onLine: (_stream, line) => line === "started" && controller.abort(),
    });
    expect(result).toMatchObject({ exitCode: null, signal: "SIGTERM", timedOut: false, cancelled: true });
    expect(await waitGone(Number(await readFile(pidFile, "utf8")))).toBe(true);

    const again = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 30_000,
      signal: controller.signal,
    });
    expect(again).toMatchObject({ exitCode: null, cancelled: true, durationMs: 0 });
  });

  test("a background process left behind does not hold the run open and is killed", async ({ tmpDir }) => {
    const pidFile = join(tmpDir, "straggler.pid");
    const script = await writeNodeScript(
      tmpDir,
      "leave",
      `const child = require("node:child_process").spawn("sleep", ["1000"], { stdio: "inherit", detached: false });
       child.unref();
       require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
       process.exit(0);`,
    );
    const result = await runProcess({ command: script, args: [], cwd: tmpDir, env: ENV, timeoutMs: 30_000 });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(result.durationMs).toBeLessThan(10_000);
    expect(await waitGone(Number(await readFile(pidFile, "utf8")))).toBe(true);
  });

  test("processGroups learns of the session the process leads: started at the spawn, ended with the run", async ({
    tmpDir,
  }) => {
    const events: string[] = [];
    const script = await writeNodeScript(
      tmpDir,
      "who",
      `const stat = require("node:fs").readFileSync("/proc/self/stat", "utf8");
       const [, , pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
       console.log([process.pid, pgrp, session].join(" "));`,
    );
    const lines: string[] = [];
    const result = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 30_000,
      onLine: (_stream, line) => lines.push(line),
      processGroups: {
        started: (pid) => events.push(`started ${pid}`),
        ended: (pid) => events.push(`ended ${pid}`),
      },
    });
    expect(result.exitCode).toBe(0);
    const [pid, pgrp, session] = (lines[0] ?? "").split(" ");
    // The process is the leader of its group and of its session: the group is named by its pid.
    expect([pgrp, session]).toEqual([pid, pid]);
    expect(events).toEqual([`started ${pid}`, `ended ${pid}`]);
  });

  test("a group member that ignores SIGTERM and holds no pipe still gets the SIGKILL after the result", async ({
    tmpDir,
  }) => {
    const pidFile = join(tmpDir, "stubborn.pid");
    const script = await writeNodeScript(
      tmpDir,
      "stubborn",
      `const child = require("node:child_process").spawn("/bin/sh", ["-c", "trap '' TERM; echo $$ > ${pidFile}; while :; do sleep 1; done"], { stdio: "ignore" });
       child.unref();
       const fs = require("node:fs");
       const wait = () => (fs.existsSync(${JSON.stringify(pidFile)}) ? process.exit(0) : setTimeout(wait, 20));
       wait();`,
    );
    const events: string[] = [];
    const result = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 30_000,
      killGraceMs: 500,
      processGroups: { started: () => events.push("started"), ended: () => events.push("ended") },
    });
    expect(result.exitCode).toBe(0);
    const stubborn = Number(await readFile(pidFile, "utf8"));
    // The result came before the SIGKILL: the group is not over yet.
    expect(events).toEqual(["started"]);
    expect(await waitGone(stubborn, 5_000)).toBe(true);
    expect(events).toEqual(["started", "ended"]);
  });

  test("bounds line length and the stderr tail", async ({ tmpDir }) => {
    const script = await writeNodeScript(
      tmpDir,
      "huge",
      `process.stdout.write("é".repeat(3 * 1024 * 1024) + "\\nshort\\n");
       process.stderr.write("e".repeat(100 * 1024) + "\\nlast stderr line\\n");`,
    );
    const lines: string[] = [];
    const result = await runProcess({
      command: script,
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 30_000,
      maxLineBytes: 1024 * 1024,
      stderrTailBytes: 1024,
      onLine: (stream, line) => stream === "stdout" && lines.push(line),
    });
    expect(result.exitCode).toBe(0);
    expect(lines).toHaveLength(2);
    const [huge, short] = lines;
    expect(Buffer.byteLength(huge ?? "")).toBeLessThan(1024 * 1024 + 100);
    expect(huge).toMatch(/^é+ \[… line truncated: 5242880 more bytes …\]$/);
    expect(short).toBe("short");
    expect(Buffer.byteLength(result.stderrTail)).toBeLessThanOrEqual(1024 + 64);
    expect(result.stderrTail).toMatch(/^\[… \d+ bytes truncated …\]\ne+\nlast stderr line\n$/);
    const dropped = Number(/\d+/.exec(result.stderrTail)?.[0]);
    expect(dropped + Buffer.byteLength(result.stderrTail.slice(result.stderrTail.indexOf("\n") + 1))).toBe(
      100 * 1024 + 18,
    );
  });

  test("a missing executable resolves with 127 instead of throwing", async ({ tmpDir }) => {
    const result = await runProcess({
      command: "no-such-agent-cli",
      args: [],
      cwd: tmpDir,
      env: ENV,
      timeoutMs: 5000,
      stdin: "x",
    });
    expect(result.exitCode).toBe(127);
    expect(result.spawnError).toMatch(/ENOENT/);
    expect(result.stderrTail).toMatch(/failed to start no-such-agent-cli/);
  });
});
