import { isAbsolute } from "node:path";
import { type AgentAdapter, type AgentConfig, SmithError, assertNever } from "@smith/core";
import { ClaudeCodeAdapter } from "./claudeCode.ts";
import { CodexAdapter } from "./codex.ts";
import { CommandAdapter, PROMPT_FILE_TOKEN } from "./command.ts";
import { ReplayAdapter } from "./replay.ts";

export interface CreateAgentOptions {
  /** Agent CLI executables: paths, or names looked up on the run's `env.PATH`. */
  binaries?: { claude?: string; codex?: string };
  /**
   * For `replay`: the recordings directory, resolved to an absolute path by the caller (the
   * spec's `replayDir` may be relative to the repository). Without it, an absolute
   * `spec.replayDir` is used as is.
   */
  replayDir?: string;
  /** For `replay`: a pause after each change (demos). Default 0. */
  replayStepDelayMs?: number;
}

/**
 * The adapter for a loop's agent spec. A `command` whose command line contains `{promptFile}`
 * gets the prompt in a file; any other command gets it on stdin. The spec's `model` and `args`
 * are not baked in: the caller passes them with each run.
 */
export function createAgent(spec: AgentConfig, options: CreateAgentOptions = {}): AgentAdapter {
  switch (spec.provider) {
    case "claude":
      return new ClaudeCodeAdapter(options.binaries?.claude ? { binary: options.binaries.claude } : {});
    case "codex":
      return new CodexAdapter(options.binaries?.codex ? { binary: options.binaries.codex } : {});
    case "command": {
      if (!spec.command) {
        throw new SmithError("invalid_argument", "agent.command is required when provider is `command`", {
          field: "agent.command",
        });
      }
      return new CommandAdapter({
        command: spec.command,
        promptVia: spec.command.includes(PROMPT_FILE_TOKEN) ? "file" : "stdin",
      });
    }
    case "replay": {
      const dir =
        options.replayDir ?? (spec.replayDir !== undefined && isAbsolute(spec.replayDir) ? spec.replayDir : undefined);
      if (dir === undefined || !isAbsolute(dir)) {
        throw new SmithError(
          "invalid_argument",
          "the replay agent needs an absolute recordings directory (agent.replayDir, resolved by the caller)",
          {
            field: "agent.replayDir",
          },
        );
      }
      return new ReplayAdapter({
        dir,
        ...(options.replayStepDelayMs !== undefined ? { stepDelayMs: options.replayStepDelayMs } : {}),
      });
    }
    default:
      return assertNever(spec.provider, "agent provider");
  }
}
