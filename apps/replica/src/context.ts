import type { SmithClient } from "@smith/client";
import {
  LIMITS,
  type JournalEntryRequest,
  type ProcessGroupObserver,
  type ProcessIdentity,
  type ReasonCode,
} from "@smith/core";
import type { AgentUser } from "./agentUser.ts";
import type { SharedWorkspace } from "./sharedWorkspace.ts";
import type { JournalWriter } from "./journal.ts";

/** Where untrusted commands go: the agent runner's socket, and the workspace it shares. */
export interface AgentRunnerTarget {
  socketPath: string;
  workspace: SharedWorkspace;
}

/** The options that start one untrusted command: spread into an agent run or a gate. */
export interface UntrustedRun {
  env: Record<string, string>;
  runAs?: ProcessIdentity;
  runner?: { socketPath: string };
  processGroups?: ProcessGroupObserver;
}

/** Why the attempt ends without a normal finish. */
export class Stop extends Error {
  readonly kind: "cancelled" | "fenced";
  constructor(kind: "cancelled" | "fenced", message: string) {
    super(message);
    this.kind = kind;
  }
}

/** How an attempt ends when it ends normally: what the replica finalizes the loop with. */
export type Outcome =
  | { outcome: "synced"; reason: "all-stories-passed"; message: string }
  | { outcome: "flatline" | "waiting"; reason: ReasonCode; message: string; question?: string; resumeAt?: string };

export type NotePhase =
  | "workspace"
  | "prd"
  | "prompt"
  | "agent"
  | "gate"
  | "baseline"
  | "verify"
  | "commit"
  | "push"
  | "guard"
  | "handoff"
  | "steer";

export interface NoteExtra {
  level?: "info" | "warn" | "error";
  command?: string;
  exitCode?: number;
  durationMs?: number;
  metadata?: Record<string, unknown>;
}

/**
 * What every phase of an attempt shares: the API client, the journal, the stop signal (cancel,
 * SIGTERM, fencing) and the attempt's identity. Phases take it instead of the runner so that each
 * lives in its own file and can be read alone.
 */
export class AttemptContext {
  readonly client: SmithClient;
  readonly loopId: string;
  readonly attempt: number;
  readonly workDir: string;
  readonly journal: JournalWriter;
  readonly signal: AbortSignal;
  /** Agents and gates run as this user when set (SMITH_AGENT_USER, a replica running as root). */
  readonly agentUser: AgentUser | undefined;
  /**
   * Agents and gates run in the agent runner's container when set (SMITH_AGENT_RUNNER_SOCKET, the
   * replica Pod on Kubernetes), in a workspace shared through the Pod's group.
   */
  readonly agentRunner: AgentRunnerTarget | undefined;
  /** Told of the process group of each untrusted command started here (the local executor's records). */
  private readonly processGroups: ProcessGroupObserver | undefined;
  private readonly stopReason: () => Stop | undefined;
  private readonly actor: JournalEntryRequest["actor"];

  constructor(options: {
    client: SmithClient;
    loopId: string;
    attempt: number;
    workDir: string;
    journal: JournalWriter;
    signal: AbortSignal;
    stopReason: () => Stop | undefined;
    agentUser?: AgentUser;
    agentRunner?: AgentRunnerTarget;
    processGroups?: ProcessGroupObserver;
  }) {
    if (options.agentUser && options.agentRunner)
      throw new Error("SMITH_AGENT_USER and SMITH_AGENT_RUNNER_SOCKET exclude each other");
    this.agentUser = options.agentUser;
    this.agentRunner = options.agentRunner;
    this.processGroups = options.processGroups;
    this.client = options.client;
    this.loopId = options.loopId;
    this.attempt = options.attempt;
    this.workDir = options.workDir;
    this.journal = options.journal;
    this.signal = options.signal;
    this.stopReason = options.stopReason;
    this.actor = { type: "replica", id: `attempt-${options.attempt}` };
  }

  /** One journal entry of this attempt; the message is bounded (a quarter of an entry's budget). */
  note(phase: NotePhase, message: string, extra: NoteExtra = {}): void {
    this.journal.write({
      phase,
      actor: this.actor,
      message: message.slice(0, LIMITS.journalMessageBytes / 4),
      ...extra,
    });
  }

  /**
   * How to start untrusted code (the agent, a gate, a setup command) in `dir`: through the agent
   * runner (its own container and uid) when there is one, or as the agent user when there is one,
   * with `dir` made writable to it first; else as is.
   */
  untrusted(dir: string, env: Record<string, string>): UntrustedRun {
    const runner = this.agentRunner;
    if (runner) {
      runner.workspace.grant(dir);
      return { env: { ...env, ...runner.workspace.env(dir) }, runner: { socketPath: runner.socketPath } };
    }
    // In a session of its own, out of reach of a signal to this process's group: recorded, so that
    // the executor can end it when this process dies abruptly (the runner's container ends with the Pod).
    const groups = this.processGroups ? { processGroups: this.processGroups } : {};
    const user = this.agentUser;
    if (!user) return { env, ...groups };
    user.grant(dir);
    return { env: { ...env, ...user.env(dir) }, runAs: user.runAs, ...groups };
  }

  /** Throws the reason to stop, if there is one: checked between steps. */
  checkStop(): void {
    const reason = this.stopReason();
    if (reason) throw reason;
    if (this.journal.fenced) throw new Stop("fenced", "a newer attempt owns the loop");
  }
}
