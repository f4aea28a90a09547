import { createAgent, sanitizeEnv } from "@smith/agents";
import type { SmithClient } from "@smith/client";
import type { AgentConfig, Loop, ProcessGroupObserver } from "@smith/core";
import { existsSync, rmSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { AttemptContext, Stop, type Outcome } from "./context.ts";
import { establishBaseline } from "./baseline.ts";
import { planGates } from "./gatePlan.ts";
import { runSetup } from "./gates.ts";
import { runIterations, type RunnableAgent } from "./iterations.ts";
import { JournalWriter } from "./journal.ts";
import { draftPrdFromIssue } from "./draft.ts";
import { loadPrd } from "./prd.ts";
import { withRetry } from "./retry.ts";
import { prepareWorkspace } from "./workspace.ts";
import { GIT_AUTH_VARIABLES, GitAskpass } from "./gitAuth.ts";
import type { AgentUser } from "./agentUser.ts";
import type { AgentRunnerTarget } from "./context.ts";

export interface ReplicaOptions {
  client: SmithClient;
  loopId: string;
  attempt: number;
  /** Where the workspace is cloned (emptied first). */
  workDir: string;
  /** The environment agents and gates start from; sanitized before use (never the replica token). */
  baseEnv: Record<string, string | undefined>;
  binaries?: { claude?: string; codex?: string };
  /** Pause between the replay agent's steps. */
  replayStepDelayMs?: number;
  gateTimeoutMs?: number;
  /** How often the lock is renewed and cancel is checked (default: min(API's interval, 2 s)). */
  heartbeatMs?: number;
  /** Agents, gates and setup commands run as this user (SMITH_AGENT_USER; the replica is root). */
  agentUser?: AgentUser;
  /** Agents, gates and setup commands run through this agent runner (SMITH_AGENT_RUNNER_SOCKET). */
  agentRunner?: AgentRunnerTarget;
  /**
   * Told of the process group of each agent, gate and setup command run here (not through an
   * agent runner): the local executor's records, so that it can end them if this process dies.
   */
  processGroups?: ProcessGroupObserver;
  log?: (line: string) => void;
}

/**
 * One attempt of one loop: lock, workspace, PRD, iterations (agent → gates → commit and push),
 * guards, handoff, finalize. Everything it does is journaled through the API.
 */
export class ReplicaRunner {
  private readonly o: ReplicaOptions;
  private readonly journal: JournalWriter;
  private readonly stopController = new AbortController();
  private stopReason: Stop | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly ctx: AttemptContext;
  private askpass: GitAskpass | undefined;

  constructor(options: ReplicaOptions) {
    this.o = options;
    this.journal = new JournalWriter(options.client, options.loopId, options.attempt);
    this.ctx = new AttemptContext({
      client: options.client,
      loopId: options.loopId,
      attempt: options.attempt,
      workDir: options.workDir,
      journal: this.journal,
      signal: this.stopController.signal,
      stopReason: () => this.stopReason,
      ...(options.agentUser ? { agentUser: options.agentUser } : {}),
      ...(options.agentRunner ? { agentRunner: options.agentRunner } : {}),
      ...(options.processGroups ? { processGroups: options.processGroups } : {}),
    });
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  /** Runs the attempt; the exit code of the replica process. */
  async run(): Promise<number> {
    const { client, loopId } = this.o;
    let lock: Awaited<ReturnType<SmithClient["replica"]["acquireLock"]["mutate"]>>;
    try {
      lock = await withRetry(() => client.replica.acquireLock.mutate({ loopId }), { totalMs: 30_000 });
    } catch (err) {
      this.log(`could not take the lock: ${String(err)}`);
      return 2;
    }
    this.startHeartbeat(Math.min(lock.heartbeatIntervalMs, this.o.heartbeatMs ?? 2_000));
    try {
      const outcome = await this.attempt();
      await this.journal.flush();
      await withRetry(() =>
        client.replica.finalize.mutate({
          loopId,
          outcome: outcome.outcome,
          reason: outcome.reason,
          message: outcome.message.slice(0, 4000),
          ...(outcome.outcome === "synced"
            ? {}
            : { question: outcome.question?.slice(0, 4000), resumeAt: outcome.resumeAt }),
        }),
      );
      this.log(`finalized: ${outcome.outcome} (${outcome.reason})`);
      // A synced attempt's work is on the pushed branch: its checkout is only disk. A flatlined
      // one is kept for a person to inspect.
      if (outcome.outcome === "synced") {
        rmSync(this.o.workDir, { recursive: true, force: true });
        // The agent user's HOME next to it (AgentUser.home), when there was one.
        if (this.o.agentUser) rmSync(`${this.o.workDir}.home`, { recursive: true, force: true });
      }
      return 0;
    } catch (err) {
      if (err instanceof Stop) {
        this.ctx.note("guard", `attempt ${this.o.attempt} stopped: ${err.message}`, { level: "warn" });
        await this.journal.flush();
        this.log(`stopped: ${err.message}`);
        return 2;
      }
      const message = err instanceof Error ? err.message : String(err);
      this.ctx.note("guard", `attempt ${this.o.attempt} failed: ${message}`, { level: "error" });
      await this.journal.flush();
      this.log(`failed: ${message}`);
      return 1;
    } finally {
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.askpass?.dispose();
    }
  }

  private startHeartbeat(everyMs: number): void {
    const beat = async () => {
      try {
        const hb = await this.o.client.replica.heartbeat.mutate({ loopId: this.o.loopId });
        if (hb.stop) this.stop(new Stop("cancelled", `the loop is ${hb.state}`));
      } catch (err) {
        const code = (err as { data?: { code?: string } }).data?.code;
        if (code === "CONFLICT") this.stop(new Stop("fenced", "a newer attempt owns the loop"));
        // Anything else (API briefly away): the next beat tries again; the lock TTL is 3 beats or more.
      }
    };
    this.heartbeat = setInterval(() => void beat(), everyMs);
  }

  /** Stops the attempt from outside (SIGTERM): the running agent's process tree is killed. */
  terminate(why: string): void {
    this.stop(new Stop("cancelled", why));
  }

  private stop(reason: Stop): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.stopController.abort();
  }

  private async attempt(): Promise<Outcome> {
    const ctx = this.ctx;
    const spec = await withRetry(() => ctx.client.replica.getSpec.query({ loopId: ctx.loopId }), {
      signal: ctx.signal,
    });
    let loop: Loop = spec.loop;
    const env = Object.fromEntries(
      Object.entries(sanitizeEnv(this.o.baseEnv)).filter(([name]) => !GIT_AUTH_VARIABLES.test(name)),
    );
    const credentials = await withRetry(() => ctx.client.replica.credentials.mutate({ loopId: ctx.loopId }), {
      signal: ctx.signal,
    });
    ctx.note(
      "workspace",
      [
        credentials.git
          ? `git token from credential ${credentials.git.credential} (${credentials.git.type}${credentials.git.expiresAt ? `, expires ${credentials.git.expiresAt}` : ""})`
          : "no git credential",
        credentials.agent ? `agent key from credential ${credentials.agent.credential}` : "no agent credential",
      ].join("; "),
      {
        metadata: {
          gitCredential: credentials.git?.credential ?? null,
          agentCredential: credentials.agent?.credential ?? null,
        },
      },
    );
    const askpass = credentials.git
      ? new GitAskpass(credentials.git, async () => {
          const fresh = await withRetry(() => ctx.client.replica.credentials.mutate({ loopId: ctx.loopId }));
          if (!fresh.git) throw new Error("the loop's git credential is gone");
          return fresh.git;
        })
      : undefined;
    this.askpass = askpass;
    const ws = await prepareWorkspace(ctx, loop, env, askpass);
    if ("outcome" in ws) return ws;
    ctx.checkStop();
    const agentEnv = { ...env, ...(credentials.agent?.env ?? {}) };
    const runnable = (config: AgentConfig): RunnableAgent => ({
      config,
      adapter: createAgent(config, {
        binaries: this.o.binaries,
        replayStepDelayMs: this.o.replayStepDelayMs,
        replayDir: config.replayDir
          ? isAbsolute(config.replayDir)
            ? config.replayDir
            : join(this.o.workDir, config.replayDir)
          : undefined,
      }),
      // The key fetched for the loop's agent goes to a fallback of the same provider; another
      // provider's fallback finds its key in the replica's environment, if anywhere.
      env: config.provider === loop.spec.agent.provider ? agentEnv : env,
    });
    const agents = [loop.spec.agent, ...loop.spec.agent.fallbacks].map(runnable);
    const agent = agents[0]?.adapter;
    if (!agent) throw new Error("the loop has no agent");
    // The provider key fetched for the agent is one the replica holds too.
    const secrets = [...heldSecrets(this.o.baseEnv), ...heldSecrets(credentials.agent?.env ?? {})];
    if (loop.spec.prd.kind === "issue" && !existsSync(join(ctx.workDir, loop.spec.prd.path))) {
      const drafted = await draftPrdFromIssue(ctx, { loop, ws, agent, env: agentEnv, secrets });
      if (drafted) return drafted;
      // The draft was an iteration: the loop's counters moved.
      loop = (await withRetry(() => ctx.client.replica.getSpec.query({ loopId: ctx.loopId }), { signal: ctx.signal }))
        .loop;
    }
    const loaded = loadPrd(ctx, loop);
    if ("outcome" in loaded) return loaded;
    const gateTimeoutMs = this.o.gateTimeoutMs ?? 10 * 60_000;
    const plan = await planGates(ctx, loop, loaded);
    if ("outcome" in plan) return plan;
    await runSetup(ctx, plan.setup, { env, timeoutMs: gateTimeoutMs });
    const baseline = await establishBaseline(ctx, { loop, ws, plan, env, timeoutMs: gateTimeoutMs });
    if ("outcome" in baseline) return baseline;
    return runIterations(ctx, {
      loop,
      ws,
      loaded,
      plan,
      baseline,
      agents,
      env,
      gateTimeoutMs,
      secrets,
    });
  }
}

/** Names whose values are secrets (provider keys, tokens); the same rule as the agent env's. */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|KEY|CREDENTIAL/i;

/** The secret values in the replica's environment: a change that contains one is never committed. */
function heldSecrets(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.entries(env)
    .filter(([name, value]) => SECRET_NAME.test(name) && value !== undefined && value.length >= 12)
    .map(([, value]) => value ?? "");
}
