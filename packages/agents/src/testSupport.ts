// Test-only: scripted fake agent CLIs (real executables) and process checks for the tests of
// this package. Not exported from the package.
import { readFileSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { AgentEvent, AgentRunOptions } from "@smith/core";

/**
 * A minimal PATH for fake agents: the directory of the node running the tests (the fakes start
 * with `#!/usr/bin/env node`, which resolves node through the child's PATH), then the system's.
 */
export function fakePath(): string {
  return `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;
}

/** Writes an executable node script (CommonJS) named `name` into `dir` and returns its path. */
export async function writeNodeScript(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/usr/bin/env node\n"use strict";\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** Shared by the fakes: output helpers, the env-driven mode, and a hang that leaves a grandchild. */
const PRELUDE = String.raw`
const fs = require("node:fs");
const { spawn } = require("node:child_process");
const mode = process.env.FAKE_MODE || "ok";
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const args = process.argv.slice(2);
if (process.env.FAKE_ARGS_FILE) fs.writeFileSync(process.env.FAKE_ARGS_FILE, JSON.stringify(args));
if (process.env.FAKE_ENV_FILE) fs.writeFileSync(process.env.FAKE_ENV_FILE, JSON.stringify(process.env));
const prompt = fs.readFileSync(0, "utf8");
if (process.env.FAKE_EXPECT_PROMPT !== undefined && prompt !== process.env.FAKE_EXPECT_PROMPT) {
  process.stderr.write("prompt mismatch: " + JSON.stringify(prompt) + "\n");
  process.exit(65);
}
function hang() {
  // A grandchild in the same process group, holding the stdout pipe open like a stray server.
  const child = spawn("sleep", ["1000"], { stdio: "inherit" });
  fs.writeFileSync(process.env.FAKE_PID_FILE, String(child.pid));
  process.stdout.write("hanging\n");
  setInterval(() => {}, 1000);
}
`;

/**
 * A fake `claude`: checks its fixed arguments and the prompt on stdin, then prints Claude Code
 * stream-json (init, text, tool_use, a 300 ms pause, tool_result, result with cost and usage).
 * FAKE_MODE: ok | error (is_error result) | exit2 | hang | huge | noresult.
 */
export const FAKE_CLAUDE = String.raw`${PRELUDE}
const fixed = ["-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"];
if (JSON.stringify(args.slice(0, fixed.length)) !== JSON.stringify(fixed)) {
  process.stderr.write("unexpected arguments: " + JSON.stringify(args) + "\n");
  process.exit(64);
}
const assistant = (content) => out({ type: "assistant", message: { id: "msg_1", role: "assistant", model: "claude-test", content }, parent_tool_use_id: null, session_id: "s1" });
const user = (content) => out({ type: "user", message: { role: "user", content }, parent_tool_use_id: null, session_id: "s1" });
(async () => {
  out({ type: "system", subtype: "init", cwd: process.cwd(), session_id: "s1", tools: ["Bash", "Edit"], model: "claude-test", permissionMode: "bypassPermissions" });
  assistant([{ type: "text", text: "Reading the story." }]);
  assistant([{ type: "tool_use", id: "toolu_1", name: "Bash", input: { command: "npm test", description: "Run the tests" } }]);
  if (mode === "hang") return hang();
  await sleep(300);
  user([{ type: "tool_result", tool_use_id: "toolu_1", content: "1 passing", is_error: false }]);
  assistant([{ type: "thinking", thinking: "private", signature: "sig" }, { type: "tool_use", id: "toolu_2", name: "Edit", input: { file_path: "src/a.ts", old_string: "a", new_string: "b" } }]);
  user([{ type: "tool_result", tool_use_id: "toolu_2", content: [{ type: "text", text: "The file src/a.ts has been updated." }], is_error: true }]);
  out({ type: "rate_limit_event", rate_limit_info: { status: "allowed" }, session_id: "s1" });
  process.stderr.write("a warning on stderr\n");
  if (mode === "huge") {
    process.stdout.write("x".repeat(3 * 1024 * 1024) + "\n");
    user([{ type: "tool_result", tool_use_id: "toolu_3", content: "y".repeat(2 * 1024 * 1024) }]);
  }
  assistant([{ type: "text", text: "Done: US-001 implemented." }]);
  if (mode === "noresult") process.exit(0);
  out({
    type: "result",
    subtype: "success",
    is_error: mode === "error",
    duration_ms: 1200,
    num_turns: 3,
    result: mode === "error" ? "API Error: 500 overloaded" : "Implemented US-001.",
    stop_reason: "end_turn",
    total_cost_usd: 0.0123,
    usage: { input_tokens: 100, cache_creation_input_tokens: 20, cache_read_input_tokens: 300, output_tokens: 50 },
    modelUsage: {},
    permission_denials: [],
    session_id: "s1",
  });
  if (mode === "exit2") process.exit(2);
})();
`;

/**
 * A fake `codex`: checks `exec --json --sandbox workspace-write ... -` and the prompt on stdin,
 * then prints exec JSONL (a command with a 300 ms pause, a file change, a message, usage).
 * FAKE_MODE: ok | failed (turn.failed, exit 1) | retry (reconnect errors, then success) | hang.
 */
export const FAKE_CODEX = String.raw`${PRELUDE}
const fixed = ["exec", "--json", "--sandbox", "workspace-write"];
if (JSON.stringify(args.slice(0, fixed.length)) !== JSON.stringify(fixed) || args[args.length - 1] !== "-") {
  process.stderr.write("unexpected arguments: " + JSON.stringify(args) + "\n");
  process.exit(64);
}
(async () => {
  out({ type: "thread.started", thread_id: "0199a213-81c0-7800-8aa1-bbab2a035a53" });
  out({ type: "turn.started" });
  if (mode === "retry") {
    out({ type: "error", message: "Reconnecting... 2/5 (stream disconnected before completion)" });
    out({ type: "item.completed", item: { id: "item_0", type: "error", message: "Falling back from WebSockets to HTTPS transport." } });
  }
  out({ type: "item.completed", item: { id: "item_1", type: "reasoning", text: "**Planning the change**" } });
  out({ type: "item.started", item: { id: "item_2", type: "command_execution", command: "bash -lc 'npm test'", aggregated_output: "", status: "in_progress" } });
  if (mode === "hang") return hang();
  await sleep(300);
  out({ type: "item.completed", item: { id: "item_2", type: "command_execution", command: "bash -lc 'npm test'", aggregated_output: "1 failing\n", exit_code: 1, status: "failed" } });
  out({ type: "item.completed", item: { id: "item_3", type: "file_change", changes: [{ path: "src/a.ts", kind: "update" }, { path: "src/b.ts", kind: "add" }], status: "completed" } });
  out({ type: "item.started", item: { id: "item_4", type: "todo_list", items: [{ text: "fix a", completed: true }, { text: "add b", completed: false }] } });
  if (mode === "failed") {
    out({ type: "error", message: "unexpected status 401 Unauthorized" });
    out({ type: "turn.failed", error: { message: "unexpected status 401 Unauthorized" } });
    process.exit(1);
  }
  out({ type: "item.completed", item: { id: "item_5", type: "agent_message", text: "Implemented US-001." } });
  out({ type: "turn.completed", usage: { input_tokens: 24763, cached_input_tokens: 24448, output_tokens: 122, reasoning_output_tokens: 64 } });
})();
`;

/** Whether a process is still running (a zombie waiting to be reaped counts as gone). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** Polls until `pid` is gone or `timeoutMs` passes; returns whether it is gone. */
export async function waitGone(pid: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !isRunning(pid);
}

/**
 * A run of a scripted fake CLI: writes the fake as `name` in `dir` and returns run options (the
 * prompt, which the fake checks it received; its mode) and the events collected with their times.
 */
export async function fakeRun(
  dir: string,
  name: string,
  script: string,
  prompt: string,
  mode = "ok",
  extraEnv: Record<string, string> = {},
) {
  const binary = await writeNodeScript(dir, name, script);
  const events: Array<{ event: AgentEvent; at: number }> = [];
  const options: AgentRunOptions = {
    prompt,
    cwd: dir,
    env: {
      PATH: fakePath(),
      FAKE_MODE: mode,
      FAKE_EXPECT_PROMPT: prompt,
      FAKE_PID_FILE: join(dir, "grandchild.pid"),
      ...extraEnv,
    },
    timeoutMs: 20_000,
    storyId: "US-001",
    onEvent: (event) => events.push({ event, at: Date.now() }),
  };
  return { binary, options, events };
}
