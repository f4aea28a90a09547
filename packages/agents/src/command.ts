import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentAdapter, AgentEvent, AgentResult, AgentRunOptions } from "@smith/core";
import { type OutputParser, type ParsedOutcome, runAgentCli } from "./agentCli.ts";
import { ClaudeStreamParser } from "./claudeStream.ts";

/** The token in a command line that is replaced by the prompt file's (quoted) path. */
export const PROMPT_FILE_TOKEN = "{promptFile}";
/** The variable that holds the prompt file's path when the prompt goes via a file. */
export const PROMPT_FILE_ENV = "SMITH_PROMPT_FILE";
/** The variable that holds the run's model override, when there is one. */
export const MODEL_ENV = "SMITH_AGENT_MODEL";

export interface CommandAdapterOptions {
  /** A shell command line, run with `/bin/sh -c` in the workspace. */
  command: string;
  /**
   * How the prompt reaches the command: on stdin (default), or in a file (mode 0600, removed
   * after the run) whose path is in `SMITH_PROMPT_FILE` and replaces `{promptFile}` in `command`.
   */
  promptVia?: "stdin" | "file";
  /** Where the prompt file's directory is created. Default: the OS temp dir. */
  tempDir?: string;
}

/**
 * Runs any command as the agent: a wrapper script, another agent CLI, a test double. Each stdout
 * and stderr line becomes a `log` event, except stdout lines in Claude Code's stream-json shape,
 * which are read as Claude's (so that a wrapper can report text, tools, usage and cost by
 * printing them). The run's `args` are appended to the command line, shell-quoted; its `model`
 * is in `SMITH_AGENT_MODEL`.
 */
export class CommandAdapter implements AgentAdapter {
  readonly provider = "command" as const;
  private readonly command: string;
  private readonly promptVia: "stdin" | "file";
  private readonly tempDir: string | undefined;

  constructor(options: CommandAdapterOptions) {
    this.command = options.command;
    this.promptVia = options.promptVia ?? "stdin";
    this.tempDir = options.tempDir;
  }

  async run(options: AgentRunOptions): Promise<AgentResult> {
    const env: Record<string, string> = { ...options.env };
    if (options.model) env[MODEL_ENV] = options.model;
    const args = (options.args ?? []).map(shellQuote);
    const parser = new CommandOutputParser();
    if (this.promptVia === "stdin") {
      const line = [this.command, ...args].join(" ");
      return runAgentCli(options, { command: "/bin/sh", args: ["-c", line], env, stdin: options.prompt }, parser);
    }
    const dir = await mkdtemp(join(this.tempDir ?? tmpdir(), "smith-prompt-"));
    try {
      const promptFile = join(dir, "prompt.md");
      // The prompt can quote the PRD and operator messages: readable by this user only.
      await writeFile(promptFile, options.prompt, { mode: 0o600 });
      env[PROMPT_FILE_ENV] = promptFile;
      const line = [this.command.split(PROMPT_FILE_TOKEN).join(shellQuote(promptFile)), ...args].join(" ");
      return await runAgentCli(options, { command: "/bin/sh", args: ["-c", line], env }, parser);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** Claude stream-json lines are read as such; anything else is the command's own output. */
class CommandOutputParser implements OutputParser {
  private readonly claude = new ClaudeStreamParser({ ownsAllJson: false });

  parse(line: string): AgentEvent[] | undefined {
    return this.claude.parse(line);
  }

  outcome(): ParsedOutcome {
    // A plain command reports nothing but its exit code; only a Claude `result` line can say more.
    return this.claude.sawResult ? this.claude.outcome() : { inputTokens: 0, outputTokens: 0, isError: false };
  }
}

/** Quotes a word for /bin/sh: single quotes, with embedded single quotes closed and escaped. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
