import type { AgentProvider } from "./loop.ts";

/**
 * The agent port: how a replica runs a coding agent CLI on one story. Adapters (Claude Code,
 * Codex, a generic command, replay) live in packages/agents and parse the CLI's own output into
 * these events while it runs, so that the journal shows the agent working live.
 */
export type AgentEvent =
  /** Something the agent said (assistant text, reasoning summary). */
  | { type: "text"; text: string }
  /** The agent called a tool (edit, shell, read...); `input` is a short, bounded summary. */
  | { type: "tool_use"; tool: string; input?: string }
  /** A tool's result; `output` is a bounded tail. */
  | { type: "tool_result"; tool?: string; isError?: boolean; output?: string }
  /** Usage so far or of one turn, as the CLI reports it. */
  | { type: "usage"; inputTokens: number; outputTokens: number; usd?: number }
  /** A raw output line the adapter could not interpret (bounded). */
  | { type: "log"; stream: "stdout" | "stderr"; line: string };

export interface AgentRunOptions {
  /** The whole prompt: PRD context, the story, criteria, notes, handoff, steering. */
  prompt: string;
  /** The workspace (the git checkout). */
  cwd: string;
  /** The sanitized environment the agent runs with (never the replica token). */
  env: Record<string, string>;
  timeoutMs: number;
  /** Aborting kills the agent's whole process tree. */
  signal?: AbortSignal;
  /** The story being worked on (the replay adapter picks its recording by it). */
  storyId: string;
  /** Optional model override. */
  model?: string;
  /** Extra CLI arguments. */
  args?: string[];
  onEvent?: (event: AgentEvent) => void;
  /**
   * Run the agent's process as this user and group (the replica runs as root and keeps its run
   * dir, token and credentials out of the agent's reach). Absent: the replica's own user.
   */
  runAs?: ProcessIdentity;
  /**
   * Run the agent's process through the agent runner on this unix socket (another container of the
   * replica Pod, another uid; see docs/kubernetes.md). Excludes `runAs`.
   */
  runner?: { socketPath: string };
  /** Told of the agent's process group while it may be alive (see ProcessGroupObserver). Not with `runner`. */
  processGroups?: ProcessGroupObserver;
}

/**
 * Learns of each process group a child process leads (every agent, gate and setup command starts
 * as the leader of a session of its own, so that a timeout kills its whole tree): `started` right
 * after the spawn, `ended` once the group is gone or has been sent SIGKILL. The local replica
 * records them in its run dir, so that its executor can end them when the replica itself dies
 * (they are in no process group of the replica's). Must not throw.
 */
export interface ProcessGroupObserver {
  started(pid: number): void;
  ended(pid: number): void;
}

/** A user and group id to run a child process as. */
export interface ProcessIdentity {
  uid: number;
  gid: number;
}

/**
 * The agent could not work because of its provider's limits, as its CLI reported them
 * (docs/agents.md#usage-and-rate-limits): `usage-limit` (the account's or plan's quota is used
 * up, usually until a reset time), `rate-limit` (HTTP 429 after the CLI's own retries) or
 * `overloaded` (HTTP 529 / 503, "high demand"). Not a failure of the story: the replica switches
 * to a fallback agent or parks the loop.
 */
export interface AgentLimit {
  kind: "usage-limit" | "rate-limit" | "overloaded";
  /** When the limit resets, when the CLI said so. */
  resetAt?: Date;
  /** The CLI's own words (bounded). */
  message: string;
}

export interface AgentResult {
  /** The process exit code; null when killed by a signal. */
  exitCode: number | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  inputTokens: number;
  outputTokens: number;
  /** Cost in USD, when the CLI reports it. */
  usd?: number;
  /** The agent's final message, when the CLI gives one (bounded). */
  summary?: string;
  /** The CLI itself reported failure (e.g. Claude Code's `is_error`). */
  isError: boolean;
  /** The last lines of stderr (bounded), for the journal when the run failed. */
  stderrTail: string;
  /** Set when the run failed on a usage or rate limit of the provider. */
  limit?: AgentLimit;
}

export interface AgentAdapter {
  readonly provider: AgentProvider;
  run(options: AgentRunOptions): Promise<AgentResult>;
}

/**
 * How an agent asks a person a question: a line of its final message that starts with this
 * marker (docs/agents.md). The replica then stops the attempt and the loop waits for an answer.
 */
export const QUESTION_MARKER = "SMITH-QUESTION:";

/** The question in an agent's final message (the last marked line), bounded; none when unmarked or blank. */
export function questionFrom(text: string | undefined): string | undefined {
  if (!text) return undefined;
  let found: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(QUESTION_MARKER);
    // Only markdown decoration (quote, bold, list dash) may come before the marker on its line.
    if (at === -1 || line.slice(0, at).replace(/[>*_`\s-]/g, "") !== "") continue;
    const question = line.slice(at + QUESTION_MARKER.length).trim();
    if (question) found = question;
  }
  return found === undefined ? undefined : found.slice(0, 4000);
}
