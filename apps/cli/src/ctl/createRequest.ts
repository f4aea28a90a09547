import { CreateLoopInput, type AgentProvider, type CreateLoopRequest } from "@smith/core";
import { UsageError } from "./errors.ts";

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
  model?: string;
  maxCostUsd?: number;
  /** Quality gates run in addition to the PRD's own (`--gate`, repeatable). */
  gates?: string[];
  timeoutMs?: number;
  maxAttempts?: number;
  labels?: Record<string, string>;
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
    provider === undefined && flags.model === undefined
      ? undefined
      : {
          ...(provider !== undefined ? { provider } : {}),
          ...(flags.model !== undefined ? { model: flags.model } : {}),
          ...(flags.agentCommand !== undefined ? { command: flags.agentCommand } : {}),
          ...(flags.replayDir !== undefined ? { replayDir: flags.replayDir } : {}),
        };
  const limits = {
    ...(flags.maxIterations !== undefined ? { maxIterations: flags.maxIterations } : {}),
    ...(flags.maxAttempts !== undefined ? { maxAttempts: flags.maxAttempts } : {}),
    ...(flags.timeoutMs !== undefined ? { timeoutMs: flags.timeoutMs } : {}),
    ...(flags.maxCostUsd !== undefined ? { maxCostUsd: flags.maxCostUsd } : {}),
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
      ...(flags.gates ? { qualityGates: flags.gates } : {}),
      ...(Object.keys(limits).length ? { limits } : {}),
    },
    ...(flags.labels ? { labels: flags.labels } : {}),
    ...(flags.priority !== undefined ? { priority: flags.priority } : {}),
    ...(flags.concurrencyKey !== undefined ? { concurrencyKey: flags.concurrencyKey } : {}),
    ...(flags.idempotencyKey !== undefined ? { idempotencyKey: flags.idempotencyKey } : {}),
  };
}

/** The flag that sets each field of the request (the first path segments that decide it). */
const FLAG_OF: [path: string, flag: string][] = [
  ["spec.title", "--title"],
  ["spec.repo.url", "--repo"],
  ["spec.repo.baseBranch", "--base"],
  ["spec.prd.path", "--prd-path"],
  ["spec.agent.provider", "--agent"],
  ["spec.agent.model", "--model"],
  ["spec.agent.command", "--agent-command"],
  ["spec.agent.replayDir", "--replay-dir"],
  ["spec.qualityGates", "--gate"],
  ["spec.limits.maxCostUsd", "--max-cost"],
  ["spec.limits.timeoutMs", "--timeout"],
  ["spec.limits.maxAttempts", "--max-attempts"],
  ["spec.limits.maxIterations", "--max-iterations"],
  ["priority", "--priority"],
  ["concurrencyKey", "--concurrency-key"],
  ["idempotencyKey", "--idempotency-key"],
  ["labels", "--label"],
];

/** Bounds people read better as durations than as the schema's milliseconds. */
const READABLE: Record<string, string> = { "--timeout": "must be between 1s and 7d" };

/**
 * Checks the request against the API's own schema before anything is sent, so that a bad flag
 * value is a usage error (exit 2) that names the flag and the limit, and nothing is created.
 */
export function checkCreateRequest(request: CreateLoopRequest): void {
  const parsed = CreateLoopInput.safeParse(request);
  if (parsed.success) return;
  const lines = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    const flag = FLAG_OF.find(([p]) => path === p || path.startsWith(`${p}.`))?.[1];
    if (!flag) return `${path || "input"}: ${issue.message}`;
    const index = flag === "--gate" ? /^spec\.qualityGates\.(\d+)/.exec(path)?.[1] : undefined;
    const which =
      index !== undefined
        ? ` (gate ${Number(index) + 1})`
        : flag === "--label"
          ? ` (${issue.path.slice(1).join(".")})`
          : "";
    return `${flag}${which}: ${READABLE[flag] ?? issue.message}`;
  });
  throw new UsageError(lines.join("; "));
}
