import type { AgentAdapter, AgentResult, AgentRunOptions } from "@smith/core";
import { runAgentCli } from "./agentCli.ts";
import { ClaudeStreamParser } from "./claudeStream.ts";

export interface ClaudeCodeAdapterOptions {
  /** The `claude` executable: a path, or a name looked up on the run's `env.PATH`. Default `claude`. */
  binary?: string;
}

/**
 * The arguments of one Claude Code run (checked against Claude Code 2.1.329, see docs/agents.md):
 * - `-p`: print mode, non-interactive; with no prompt argument it reads the prompt from stdin.
 * - `--output-format stream-json --verbose`: one JSON message per line while it works (print
 *   mode refuses stream-json without --verbose).
 * - `--dangerously-skip-permissions`: the agent must edit and run commands unattended; nobody is
 *   there to answer a permission prompt. Claude Code refuses it as root unless IS_SANDBOX=1.
 */
export function claudeCodeArgs(run: Pick<AgentRunOptions, "model" | "args">): string[] {
  return [
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--dangerously-skip-permissions",
    ...(run.model ? ["--model", run.model] : []),
    ...(run.args ?? []),
  ];
}

/** Runs Claude Code (`claude -p ... --output-format stream-json`) with the prompt on stdin. */
export class ClaudeCodeAdapter implements AgentAdapter {
  readonly provider = "claude" as const;
  private readonly binary: string;

  constructor(options: ClaudeCodeAdapterOptions = {}) {
    this.binary = options.binary ?? "claude";
  }

  run(options: AgentRunOptions): Promise<AgentResult> {
    return runAgentCli(
      options,
      { command: this.binary, args: claudeCodeArgs(options), env: options.env, stdin: options.prompt },
      new ClaudeStreamParser({ ownsAllJson: true }),
    );
  }
}
