import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AgentEvent, AgentRunOptions } from "@smith/core";
import { tmpDirTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { CommandAdapter, shellQuote } from "./command.ts";
import { fakePath } from "./testSupport.ts";

const PROMPT = "Implement US-002.\nIt's 'quoted' and has $HOME in it.";

function options(dir: string, events: AgentEvent[], extra: Partial<AgentRunOptions> = {}): AgentRunOptions {
  return {
    prompt: PROMPT,
    cwd: dir,
    env: { PATH: fakePath() },
    timeoutMs: 20_000,
    storyId: "US-002",
    onEvent: (e) => events.push(e),
    ...extra,
  };
}

describe("CommandAdapter", () => {
  test("prompt on stdin; output lines become log events; args are appended quoted", async ({ tmpDir }) => {
    const events: AgentEvent[] = [];
    const adapter = new CommandAdapter({
      command: `cat > got.txt; echo "working on it"; echo oops >&2; printf '[%s]\\n'`,
    });
    const result = await adapter.run(options(tmpDir, events, { args: ["a b", "it's"], model: "m-1" }));
    expect(result).toMatchObject({
      exitCode: 0,
      isError: false,
      inputTokens: 0,
      outputTokens: 0,
      stderrTail: "oops\n",
    });
    expect(result).not.toHaveProperty("usd");
    expect(await readFile(join(tmpDir, "got.txt"), "utf8")).toBe(PROMPT);
    expect(events.filter((e) => e.type === "log" && e.stream === "stdout")).toEqual([
      { type: "log", stream: "stdout", line: "working on it" },
      { type: "log", stream: "stdout", line: "[a b]" },
      { type: "log", stream: "stdout", line: "[it's]" },
    ]);
    expect(events).toContainEqual({ type: "log", stream: "stderr", line: "oops" });
  });

  test("prompt via a file: SMITH_PROMPT_FILE and {promptFile}, removed after the run", async ({ tmpDir }) => {
    const events: AgentEvent[] = [];
    const adapter = new CommandAdapter({
      command: `cp {promptFile} got.txt && test "$SMITH_PROMPT_FILE" = {promptFile} && echo "$SMITH_PROMPT_FILE" && echo "model=$SMITH_AGENT_MODEL" && cat`,
      promptVia: "file",
    });
    const result = await adapter.run(options(tmpDir, events, { model: "m-1" }));
    expect(result).toMatchObject({ exitCode: 0, isError: false });
    expect(await readFile(join(tmpDir, "got.txt"), "utf8")).toBe(PROMPT);
    const [fileLine, modelLine, ...rest] = events.filter((e) => e.type === "log");
    expect(modelLine).toEqual({ type: "log", stream: "stdout", line: "model=m-1" });
    // stdin is /dev/null in file mode: `cat` printed nothing.
    expect(rest).toEqual([]);
    const promptFile = fileLine?.type === "log" ? fileLine.line : "";
    expect(promptFile).toMatch(/smith-prompt-.*prompt\.md$/);
    await expect(access(promptFile)).rejects.toThrow();
  });

  test("a wrapper that prints Claude stream-json reports text, tools, usage and errors", async ({ tmpDir }) => {
    const events: AgentEvent[] = [];
    const lines = [
      { type: "assistant", message: { content: [{ type: "text", text: "hi from the wrapper" }] } },
      {
        type: "result",
        subtype: "success",
        is_error: true,
        result: "gave up",
        total_cost_usd: 0.5,
        usage: { input_tokens: 7, output_tokens: 3 },
      },
    ].map((line) => `echo ${shellQuote(JSON.stringify(line))}`);
    const adapter = new CommandAdapter({
      command: [`echo '{"level":"info","msg":"own json log"}'`, ...lines].join("; "),
    });
    const result = await adapter.run(options(tmpDir, events));
    expect(result).toMatchObject({
      exitCode: 0,
      isError: true,
      summary: "gave up",
      inputTokens: 7,
      outputTokens: 3,
      usd: 0.5,
    });
    expect(events).toEqual([
      { type: "log", stream: "stdout", line: `{"level":"info","msg":"own json log"}` },
      { type: "text", text: "hi from the wrapper" },
      { type: "usage", inputTokens: 7, outputTokens: 3, usd: 0.5 },
    ]);
  });

  test("a failing command keeps its exit code; a timeout kills it", async ({ tmpDir }) => {
    const failing = await new CommandAdapter({ command: "exit 7" }).run(options(tmpDir, []));
    expect(failing).toMatchObject({ exitCode: 7, isError: false, timedOut: false });
    const hanging = await new CommandAdapter({ command: "sleep 1000" }).run(options(tmpDir, [], { timeoutMs: 300 }));
    expect(hanging).toMatchObject({ exitCode: null, timedOut: true });
  });
});
