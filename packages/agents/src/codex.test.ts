import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpDirTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { CodexAdapter } from "./codex.ts";
import { FAKE_CODEX, fakeRun, waitGone } from "./testSupport.ts";

const PROMPT = "Implement US-001: add a greeting.";

async function setup(dir: string, mode = "ok", extraEnv: Record<string, string> = {}) {
  const { binary, options, events } = await fakeRun(dir, "codex", FAKE_CODEX, PROMPT, mode, extraEnv);
  return { adapter: new CodexAdapter({ binary }), options, events };
}

describe("CodexAdapter", () => {
  test("streams messages, commands and file changes while Codex works, then usage without cost", async ({ tmpDir }) => {
    const { adapter, options, events } = await setup(tmpDir);
    const started = Date.now();
    const result = await adapter.run(options);

    expect(result).toEqual({
      exitCode: 0,
      timedOut: false,
      cancelled: false,
      durationMs: expect.any(Number),
      inputTokens: 24763,
      outputTokens: 122,
      summary: "Implemented US-001.",
      isError: false,
      stderrTail: "",
    });
    expect(result).not.toHaveProperty("usd");
    expect(events.map((e) => e.event)).toEqual([
      { type: "text", text: "**Planning the change**" },
      { type: "tool_use", tool: "shell", input: "bash -lc 'npm test'" },
      { type: "tool_result", tool: "shell", isError: true, output: "1 failing\n" },
      { type: "tool_use", tool: "edit", input: "update src/a.ts, add src/b.ts" },
      { type: "tool_result", tool: "edit", isError: false },
      { type: "text", text: "plan:\n[x] fix a\n[ ] add b" },
      { type: "text", text: "Implemented US-001." },
      { type: "usage", inputTokens: 24763, outputTokens: 122 },
    ]);
    // The fake pauses 300 ms while the command "runs": its start was delivered before the exit.
    expect(events[1]?.at ?? Infinity).toBeLessThan(started + result.durationMs - 200);
  });

  test("passes exec --json, the sandbox, --model and extra args, with `-` (stdin) last", async ({ tmpDir }) => {
    const argsFile = join(tmpDir, "args.json");
    const { adapter, options } = await setup(tmpDir, "ok", { FAKE_ARGS_FILE: argsFile });
    await adapter.run({ ...options, model: "gpt-5-codex", args: ["-c", 'model_reasoning_effort="high"'] });
    expect(JSON.parse(await readFile(argsFile, "utf8"))).toEqual([
      "exec",
      "--json",
      "--sandbox",
      "workspace-write",
      "--model",
      "gpt-5-codex",
      "-c",
      'model_reasoning_effort="high"',
      "-",
    ]);
  });

  test("turn.failed makes the run an error with the failure as summary", async ({ tmpDir }) => {
    const { adapter, options, events } = await setup(tmpDir, "failed");
    const result = await adapter.run(options);
    expect(result).toMatchObject({
      exitCode: 1,
      isError: true,
      summary: "unexpected status 401 Unauthorized",
      inputTokens: 0,
    });
    expect(events.map((e) => e.event).filter((e) => e.type === "log")).toEqual([
      { type: "log", stream: "stdout", line: "error: unexpected status 401 Unauthorized" },
      { type: "log", stream: "stdout", line: "turn failed: unexpected status 401 Unauthorized" },
    ]);
  });

  test("reconnect `error` events before a completed turn are not a failure", async ({ tmpDir }) => {
    const { adapter, options, events } = await setup(tmpDir, "retry");
    const result = await adapter.run(options);
    expect(result).toMatchObject({ exitCode: 0, isError: false, inputTokens: 24763 });
    expect(events.map((e) => e.event).filter((e) => e.type === "log")).toEqual([
      { type: "log", stream: "stdout", line: "error: Reconnecting... 2/5 (stream disconnected before completion)" },
      { type: "log", stream: "stdout", line: "warning: Falling back from WebSockets to HTTPS transport." },
    ]);
  });

  test("a hanging agent is killed at its timeout with its grandchild", async ({ tmpDir }) => {
    const { adapter, options } = await setup(tmpDir, "hang");
    const result = await adapter.run({ ...options, timeoutMs: 1000 });
    expect(result).toMatchObject({ exitCode: null, timedOut: true, isError: true });
    const grandchild = Number(await readFile(join(tmpDir, "grandchild.pid"), "utf8"));
    expect(await waitGone(grandchild)).toBe(true);
  });
});
