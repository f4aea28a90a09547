/**
 * Scripted fake agents that speak Claude Code's `--output-format stream-json`: they read the
 * prompt on stdin, find the story id in it, act, and print the real event shapes (system init,
 * assistant text + tool_use, user tool_result, result with cost and usage).
 */
export function claudeFake(
  action: string,
  options: { usd?: number; inputTokens?: number; outputTokens?: number; claims?: string } = {},
): string {
  return `
const fs = require("node:fs");
const prompt = fs.readFileSync(0, "utf8");
const story = (/## Your story: (\\S+):/.exec(prompt) || [])[1] || "unknown";
const emit = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
emit({ type: "system", subtype: "init", session_id: "fake", model: "fake-model", cwd: process.cwd(), tools: ["Write", "Bash"] });
emit({ type: "assistant", message: { role: "assistant", content: [{ type: "text", text: "Working on " + story }, { type: "tool_use", id: "tu1", name: "Write", input: { file_path: "done-" + story + ".txt", content: "x" } }] } });
(async () => {
${action}
emit({ type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "tu1", content: "written" }] } });
emit({ type: "result", subtype: "success", is_error: false, duration_ms: 10, num_turns: 1, result: ${JSON.stringify(options.claims ?? "Implemented ")} + story, session_id: "fake", total_cost_usd: ${options.usd ?? 0.01}, usage: { input_tokens: ${options.inputTokens ?? 100}, output_tokens: ${options.outputTokens ?? 20}, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } });
})();
`;
}

/** A fake that does the story's work: writes done-<story>.txt. */
export const WORKS = `fs.writeFileSync("done-" + story + ".txt", "done\\n");`;
/** A fake that claims success but changes only a notes file (so gates that check the work fail). */
export const CLAIMS_ONLY = `fs.appendFileSync("notes.txt", "tried " + story + "\\n");`;
/** A fake that hangs (and starts a grandchild), recording its pids. */
export function hangs(pidFile: string): string {
  return `const { spawn } = require("node:child_process");
const g = spawn("sleep", ["1000"], { stdio: "ignore" });
fs.writeFileSync(${JSON.stringify(pidFile)}, process.pid + " " + g.pid);
await new Promise(() => {});`;
}
/** Works, but waits for a file to exist first on the given story (a window to kill the replica). */
export function waitsOn(storyId: string, goFile: string, pidFile: string): string {
  return `if (story === ${JSON.stringify(storyId)}) {
  fs.writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
  while (!fs.existsSync(${JSON.stringify(goFile)})) await new Promise((r) => setTimeout(r, 100));
}
fs.writeFileSync("done-" + story + ".txt", "done\\n");`;
}

export const FAKE_PRD = {
  project: "fake",
  // Green on the untouched base (a baseline that fails would not hold stories back), red once the
  // liar's notes.txt exists.
  qualityGates: ["test ! -e notes.txt"],
  stories: [
    {
      id: "US-001",
      title: "First",
      status: "open",
      dependsOn: [],
      description: "one",
      acceptanceCriteria: ["done-US-001.txt exists"],
    },
    {
      id: "US-002",
      title: "Second",
      status: "open",
      dependsOn: [],
      description: "two",
      acceptanceCriteria: ["done-US-002.txt exists"],
    },
  ],
};

/**
 * Claude Code hitting its usage limit, as 2.x prints it (docs/agents.md#usage-and-rate-limits): a
 * `rate_limit_event` with status `rejected` and the reset time in Unix seconds, the assistant's
 * `rate_limit` error, and a failed `result`; the CLI exits 1. `resetsAtExpr` is a JavaScript
 * expression for the Unix seconds (evaluated in the fake), or omitted for no reset time.
 */
export function claudeUsageLimit(resetsAtExpr?: string): string {
  return `const resetsAt = ${resetsAtExpr ?? "undefined"};
emit({ type: "rate_limit_event", rate_limit_info: { status: "rejected", ...(resetsAt ? { resetsAt } : {}), rateLimitType: "five_hour", overageStatus: "rejected", isUsingOverage: false }, uuid: "u1", session_id: "fake" });
// Claude says the reset as a clock time in its own zone; the event's Unix time is what counts.
const said = "You've hit your limit" + (resetsAt ? " · resets " + new Date(resetsAt * 1000).getUTCHours() + ":" + String(new Date(resetsAt * 1000).getUTCMinutes()).padStart(2, "0") + " (UTC)" : "");
emit({ type: "assistant", error: "rate_limit", message: { role: "assistant", content: [{ type: "text", text: said }] } });
emit({ type: "result", subtype: "success", is_error: true, duration_ms: 5, num_turns: 1, result: said, session_id: "fake", total_cost_usd: 0, usage: { input_tokens: 0, output_tokens: 0 } });
process.exit(1);`;
}

/**
 * A scripted fake that speaks `codex exec --json`: it reads the prompt on stdin, finds the story
 * id, announces the thread and turn, runs `action`, reports the file it wrote and the turn's usage.
 */
export function codexFake(action: string): string {
  return `
const fs = require("node:fs");
const prompt = fs.readFileSync(0, "utf8");
const story = (/## Your story: (\\S+):/.exec(prompt) || [])[1] || "unknown";
const emit = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
emit({ type: "thread.started", thread_id: "fake-thread" });
emit({ type: "turn.started" });
(async () => {
${action}
emit({ type: "item.completed", item: { id: "item_1", type: "file_change", changes: [{ path: "done-" + story + ".txt", kind: "add" }], status: "completed" } });
emit({ type: "item.completed", item: { id: "item_2", type: "agent_message", text: "Implemented " + story } });
emit({ type: "turn.completed", usage: { input_tokens: 200, cached_input_tokens: 0, output_tokens: 30 } });
})();
`;
}

/** Codex hitting its usage limit (codex-rs UsageLimitReachedError, no reset time known): an error event, then turn.failed; exit 1. */
export const CODEX_USAGE_LIMIT = `const msg = "You've hit your usage limit. Try again later.";
emit({ type: "error", message: msg });
emit({ type: "turn.failed", error: { message: msg } });
process.exit(1);`;
