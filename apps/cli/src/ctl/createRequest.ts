import type { AgentProvider, CreateLoopRequest } from "@smith/core";

/** The flags of `smithctl create loop`, already checked for presence and number syntax. */
export interface CreateLoopFlags {
  repo: string;
  base?: string;
  title?: string;
  /** Local PRD file, sent inline. Exactly one of prdFile and prdPath. */
  prdFile?: string;
  /** PRD path inside the repository. */
  prdPath?: string;
  agent?: AgentProvider;
  agentCommand?: string;
  replayDir?: string;
  maxIterations?: number;
  priority?: number;
  concurrencyKey?: string;
  idempotencyKey?: string;
}

/**
 * The `loops.create` input for the flags; `prdContent` is the text of `--prd`. Without `--agent`,
 * `--agent-command` implies the `command` agent and `--replay-dir` the `replay` one; otherwise the
 * server's default applies. Ranges are left to the server, which names the field it refuses.
 */
export function buildCreateRequest(flags: CreateLoopFlags, prdContent: string | undefined): CreateLoopRequest {
  const provider =
    flags.agent ??
    (flags.agentCommand !== undefined ? "command" : flags.replayDir !== undefined ? "replay" : undefined);
  const agent =
    provider === undefined
      ? undefined
      : {
          provider,
          ...(flags.agentCommand !== undefined ? { command: flags.agentCommand } : {}),
          ...(flags.replayDir !== undefined ? { replayDir: flags.replayDir } : {}),
        };
  return {
    spec: {
      ...(flags.title !== undefined ? { title: flags.title } : {}),
      repo: { url: flags.repo, ...(flags.base !== undefined ? { baseBranch: flags.base } : {}) },
      prd:
        prdContent !== undefined
          ? { kind: "inline", content: prdContent }
          : { kind: "path", ...(flags.prdPath !== undefined ? { path: flags.prdPath } : {}) },
      ...(agent ? { agent } : {}),
      ...(flags.maxIterations !== undefined ? { limits: { maxIterations: flags.maxIterations } } : {}),
    },
    ...(flags.priority !== undefined ? { priority: flags.priority } : {}),
    ...(flags.concurrencyKey !== undefined ? { concurrencyKey: flags.concurrencyKey } : {}),
    ...(flags.idempotencyKey !== undefined ? { idempotencyKey: flags.idempotencyKey } : {}),
  };
}
