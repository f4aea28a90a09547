import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpDirTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { BOUNDS } from "./bounds.ts";
import { ClaudeCodeAdapter } from "./claudeCode.ts";
import { sanitizeEnv } from "./sanitizeEnv.ts";
import { FAKE_CLAUDE, fakePath, fakeRun, waitGone } from "./testSupport.ts";

const PROMPT = "Implement US-001: add a greeting.\nCriteria: it says hello ✓";

async function setup(dir: string, mode = "ok", extraEnv: Record<string, string> = {}) {
  const { binary, options, events } = await fakeRun(dir, "claude", FAKE_CLAUDE, PROMPT, mode, extraEnv);
  return { adapter: new ClaudeCodeAdapter({ binary }), options, events };
}

describe("ClaudeCodeAdapter", () => {
  test("streams text, tool calls and results while Claude works, then usage and cost", async ({ tmpDir }) => {
    const { adapter, options, events } = await setup(tmpDir);
    const started = Date.now();
    const result = await adapter.run({ ...options, model: "sonnet", args: ["--max-budget-usd", "5"] });

    expect(result).toEqual({
      exitCode: 0,
      timedOut: false,
      cancelled: false,
      durationMs: expect.any(Number),
      inputTokens: 420,
      outputTokens: 50,
      usd: 0.0123,
      summary: "Implemented US-001.",
      isError: false,
      stderrTail: "a warning on stderr\n",
    });
    // stderr is a separate pipe: its lines interleave with stdout's in no fixed order.
    const stderrLogs = events.filter((e) => e.event.type === "log" && e.event.stream === "stderr").map((e) => e.event);
    expect(stderrLogs).toEqual([{ type: "log", stream: "stderr", line: "a warning on stderr" }]);
    expect(events.filter((e) => !stderrLogs.includes(e.event)).map((e) => e.event)).toEqual([
      { type: "text", text: "Reading the story." },
      { type: "tool_use", tool: "Bash", input: "npm test" },
      { type: "tool_result", tool: "Bash", isError: false, output: "1 passing" },
      { type: "tool_use", tool: "Edit", input: "src/a.ts" },
      { type: "tool_result", tool: "Edit", isError: true, output: "The file src/a.ts has been updated." },
      { type: "text", text: "Done: US-001 implemented." },
      { type: "usage", inputTokens: 420, outputTokens: 50, usd: 0.0123 },
    ]);
    // The fake pauses 300 ms after its first messages: they were delivered before it exited.
    expect(events[0]?.at ?? Infinity).toBeLessThan(started + result.durationMs - 200);
  });

  test("passes --model and extra args after its own flags", async ({ tmpDir }) => {
    const argsFile = join(tmpDir, "args.json");
    const { adapter, options } = await setup(tmpDir, "ok", { FAKE_ARGS_FILE: argsFile });
    await adapter.run({ ...options, model: "opus", args: ["--max-turns", "30"] });
    expect(JSON.parse(await readFile(argsFile, "utf8"))).toEqual([
      "-p",
      "--output-format",
      "stream-json",
      "--verbose",
      "--dangerously-skip-permissions",
      "--model",
      "opus",
      "--max-turns",
      "30",
    ]);
  });

  test("the agent sees exactly the environment it is given: no replica token", async ({ tmpDir }) => {
    const envFile = join(tmpDir, "env.json");
    const { adapter, options } = await setup(tmpDir);
    const env = sanitizeEnv({
      ...options.env,
      FAKE_ENV_FILE: envFile,
      SMITH_TOKEN: "smr.replica-token",
      SMITH_API_URL: "http://api:8080",
      GITHUB_TOKEN: "ghp_x",
      ANTHROPIC_API_KEY: "sk-ant-test",
      HOME: tmpDir,
    });
    const result = await adapter.run({ ...options, env });
    expect(result.exitCode).toBe(0);
    const seen: unknown = JSON.parse(await readFile(envFile, "utf8"));
    expect(seen).toEqual(env);
    expect(seen).not.toHaveProperty("SMITH_TOKEN");
    expect(seen).not.toHaveProperty("GITHUB_TOKEN");
    expect(seen).toHaveProperty("ANTHROPIC_API_KEY", "sk-ant-test");
  });

  test("an is_error result makes the run an error, with Claude's message as summary", async ({ tmpDir }) => {
    const { adapter, options } = await setup(tmpDir, "error");
    const result = await adapter.run(options);
    expect(result).toMatchObject({ exitCode: 0, isError: true, summary: "API Error: 500 overloaded", usd: 0.0123 });
  });

  test("a non-zero exit is reported as is; no result message is an error", async ({ tmpDir }) => {
    const exit2 = await setup(tmpDir, "exit2");
    expect(await exit2.adapter.run(exit2.options)).toMatchObject({ exitCode: 2, isError: false, inputTokens: 420 });
    const noResult = await setup(tmpDir, "noresult");
    expect(await noResult.adapter.run(noResult.options)).toMatchObject({ exitCode: 0, isError: true, inputTokens: 0 });
  });

  test("a prompt that did not arrive on stdin fails the fake (the check is real)", async ({ tmpDir }) => {
    const { adapter, options } = await setup(tmpDir);
    const result = await adapter.run({ ...options, prompt: "something else" });
    expect(result).toMatchObject({ exitCode: 65, isError: true });
    expect(result.stderrTail).toMatch(/prompt mismatch/);
  });

  test("a hanging agent is killed at its timeout with its grandchild", async ({ tmpDir }) => {
    const { adapter, options, events } = await setup(tmpDir, "hang");
    const result = await adapter.run({ ...options, timeoutMs: 1000 });
    expect(result).toMatchObject({ exitCode: null, timedOut: true, cancelled: false, isError: true });
    expect(events.map((e) => e.event.type)).toEqual(["text", "tool_use", "log"]);
    const grandchild = Number(await readFile(join(tmpDir, "grandchild.pid"), "utf8"));
    expect(await waitGone(grandchild)).toBe(true);
  });

  test("aborting kills the tree and reports cancelled", async ({ tmpDir }) => {
    const { adapter, options } = await setup(tmpDir, "hang");
    const controller = new AbortController();
    const result = await adapter.run({
      ...options,
      signal: controller.signal,
      // The fake prints "hanging" once its grandchild runs.
      onEvent: (event) => event.type === "log" && event.line === "hanging" && controller.abort(),
    });
    expect(result).toMatchObject({ exitCode: null, timedOut: false, cancelled: true });
    const grandchild = Number(await readFile(join(tmpDir, "grandchild.pid"), "utf8"));
    expect(await waitGone(grandchild)).toBe(true);
  });

  test("huge output lines are bounded", async ({ tmpDir }) => {
    const { adapter, options, events } = await setup(tmpDir, "huge");
    const result = await adapter.run(options);
    expect(result).toMatchObject({ exitCode: 0, isError: false, outputTokens: 50 });
    const logs = events.flatMap((e) => (e.event.type === "log" && e.event.stream === "stdout" ? [e.event.line] : []));
    // The 3 MiB plain line, and the 2 MiB JSON line that the 1 MiB line bound cut (no longer JSON).
    expect(logs).toHaveLength(2);
    for (const line of logs) {
      expect(Buffer.byteLength(line)).toBeLessThanOrEqual(BOUNDS.logLineBytes);
      expect(line).toMatch(/bytes truncated …\]$/);
    }
  });

  test("a missing binary is a failed run, not a throw", async ({ tmpDir }) => {
    const adapter = new ClaudeCodeAdapter({ binary: join(tmpDir, "not-installed") });
    const result = await adapter.run({
      prompt: "x",
      cwd: tmpDir,
      env: { PATH: fakePath() },
      timeoutMs: 5000,
      storyId: "US-001",
    });
    expect(result).toMatchObject({ exitCode: 127, isError: true });
    expect(result.stderrTail).toMatch(/not-installed/);
  });
});
