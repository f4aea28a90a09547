import type { AgentAdapter, AgentResult, AgentRunOptions } from "@smith/core";
import { runAgentCli } from "./agentCli.ts";
import { CodexJsonlParser } from "./codexJsonl.ts";

export interface CodexAdapterOptions {
  /** The `codex` executable: a path, or a name looked up on the run's `env.PATH`. Default `codex`. */
  binary?: string;
}

/**
 * The arguments of one Codex run (checked against codex-cli 0.169.0, see docs/agents.md):
 * - `exec`: non-interactive; it never asks for approval, so nothing waits on a human.
 * - `--json`: one thread event per line on stdout while it works.
 * - `--sandbox workspace-write`: the agent edits the workspace and runs commands in Codex's own
 *   sandbox (writes confined to the workspace and temp dirs, no network). Where that sandbox
 *   cannot work (a container without the kernel features) or the agent needs the network, add
 *   `--dangerously-bypass-approvals-and-sandbox` through the spec's `args`.
 * - `-` last: the prompt is read from stdin (no argv length limit, not visible in `ps`).
 */
export function codexArgs(run: Pick<AgentRunOptions, "model" | "args">): string[] {
  return [
    "exec",
    "--json",
    "--sandbox",
    "workspace-write",
    ...(run.model ? ["--model", run.model] : []),
    ...(run.args ?? []),
    "-",
  ];
}

/** Runs Codex (`codex exec --json ... -`) with the prompt on stdin. Codex reports no cost. */
export class CodexAdapter implements AgentAdapter {
  readonly provider = "codex" as const;
  private readonly binary: string;

  constructor(options: CodexAdapterOptions = {}) {
    this.binary = options.binary ?? "codex";
  }

  run(options: AgentRunOptions): Promise<AgentResult> {
    return runAgentCli(
      options,
      { command: this.binary, args: codexArgs(options), env: options.env, stdin: options.prompt },
      new CodexJsonlParser(),
    );
  }
}
