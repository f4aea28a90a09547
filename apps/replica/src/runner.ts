import { sanitizeEnv, createAgent } from "@smith/agents";
import type { SmithClient } from "@smith/client";
import {
  LIMITS,
  markStory,
  nextReadyStory,
  parsePrd,
  serializePrd,
  storyProgress,
  tailText,
  validatePrd,
  workBranchOf,
  type AgentEvent,
  type AgentResult,
  type Handoff,
  type Loop,
  type Prd,
  type ReasonCode,
} from "@smith/core";
import { Git } from "@smith/git";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { runGate, type GateResult } from "./gates.ts";
import { JournalWriter } from "./journal.ts";
import { withRetry } from "./retry.ts";
import { buildPrompt } from "./prompt.ts";

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
  log?: (line: string) => void;
}

/** Why the attempt ends without a normal finish. */
class Stop extends Error {
  readonly kind: "cancelled" | "fenced";
  constructor(kind: "cancelled" | "fenced", message: string) {
    super(message);
    this.kind = kind;
  }
}

type Outcome =
  | { outcome: "synced"; reason: "all-stories-passed"; message: string }
  | { outcome: "flatline"; reason: ReasonCode; message: string };

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
  private readonly actor = { type: "replica" as const, id: "" };

  constructor(options: ReplicaOptions) {
    this.o = options;
    this.journal = new JournalWriter(options.client, options.loopId, options.attempt);
    this.actor.id = `attempt-${options.attempt}`;
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  private note(
    phase: "workspace" | "prd" | "prompt" | "agent" | "gate" | "commit" | "push" | "guard" | "handoff" | "steer",
    message: string,
    extra: {
      level?: "info" | "warn" | "error";
      command?: string;
      exitCode?: number;
      durationMs?: number;
      metadata?: Record<string, unknown>;
    } = {},
  ): void {
    this.journal.write({
      phase,
      actor: this.actor,
      message: message.slice(0, LIMITS.journalMessageBytes / 4),
      ...extra,
    });
  }

  private checkStop(): void {
    if (this.stopReason) throw this.stopReason;
    if (this.journal.fenced) throw new Stop("fenced", "a newer attempt owns the loop");
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
        }),
      );
      this.log(`finalized: ${outcome.outcome} (${outcome.reason})`);
      // A synced attempt's work is on the pushed branch: its checkout is only disk. A flatlined
      // one is kept for a person to inspect.
      if (outcome.outcome === "synced") rmSync(this.o.workDir, { recursive: true, force: true });
      return 0;
    } catch (err) {
      if (err instanceof Stop) {
        this.note("guard", `attempt ${this.o.attempt} stopped: ${err.message}`, { level: "warn" });
        await this.journal.flush();
        this.log(`stopped: ${err.message}`);
        return 2;
      }
      const message = err instanceof Error ? err.message : String(err);
      this.note("guard", `attempt ${this.o.attempt} failed: ${message}`, { level: "error" });
      await this.journal.flush();
      this.log(`failed: ${message}`);
      return 1;
    } finally {
      if (this.heartbeat) clearInterval(this.heartbeat);
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
    const { client, loopId, attempt } = this.o;
    let spec = await withRetry(() => client.replica.getSpec.query({ loopId }), { signal: this.stopController.signal });
    const loop: Loop = spec.loop;
    const env = sanitizeEnv(this.o.baseEnv) as Record<string, string>;
    const git = new Git({ cwd: this.o.workDir, env });
    const branch = workBranchOf(loop);
    const base = `origin/${loop.spec.repo.baseBranch}`;

    // Workspace: a fresh clone; resume the work branch when an earlier attempt pushed it.
    rmSync(this.o.workDir, { recursive: true, force: true });
    mkdirSync(dirname(this.o.workDir), { recursive: true });
    const wsStart = performance.now();
    await git.clone(loop.spec.repo.url);
    const resumed = await git.remoteBranchExists(branch);
    if (resumed) {
      await git.fetch(branch);
      await git.checkoutNew(branch, `origin/${branch}`);
    } else {
      await git.checkoutNew(branch, base);
    }
    const commitsBefore = resumed ? await git.subjects(base) : [];
    this.note(
      "workspace",
      resumed
        ? `resumed branch ${branch} (${commitsBefore.length} commits ahead of ${loop.spec.repo.baseBranch})`
        : `created branch ${branch} from ${loop.spec.repo.baseBranch}`,
      {
        durationMs: Math.round(performance.now() - wsStart),
        metadata: { branch, resumed },
      },
    );
    this.checkStop();

    // PRD: the file on the work branch (it carries the done marks) or the inline one.
    const prdPath = loop.spec.prd.path;
    const prdFile = join(this.o.workDir, prdPath);
    if (!existsSync(prdFile)) {
      if (loop.spec.prd.kind !== "inline")
        return { outcome: "flatline", reason: "prd-invalid", message: `no PRD at ${prdPath} in the repository` };
      mkdirSync(dirname(prdFile), { recursive: true });
      writeFileSync(
        prdFile,
        loop.spec.prd.content.endsWith("\n") ? loop.spec.prd.content : loop.spec.prd.content + "\n",
      );
    }
    const prdText = readFileSync(prdFile, "utf8");
    const report = validatePrd(prdText);
    if (!report.valid) {
      this.note(
        "prd",
        `the PRD is not ready: ${report.errors.map((e) => `${e.code} at ${e.path}: ${e.message}`).join("; ")}`,
        { level: "error", metadata: { report } },
      );
      return { outcome: "flatline", reason: "prd-invalid", message: report.errors[0]?.message ?? "invalid PRD" };
    }
    for (const w of report.warnings) this.note("prd", `${w.code} at ${w.path}: ${w.message}`, { level: "warn" });
    let prd: Prd = parsePrd(prdText);
    const gates = [...prd.qualityGates, ...loop.spec.qualityGates];
    const notesPath = join(dirname(prdPath), "progress.md");
    const notesFile = join(this.o.workDir, notesPath);
    this.note(
      "prd",
      `${prd.format} PRD with ${prd.stories.length} stories (${storyProgress(prd).done} done); gates: ${gates.join(" && ") || "none"}`,
    );

    const agent = createAgent(loop.spec.agent, {
      binaries: this.o.binaries,
      replayStepDelayMs: this.o.replayStepDelayMs,
      replayDir: loop.spec.agent.replayDir
        ? isAbsolute(loop.spec.agent.replayDir)
          ? loop.spec.agent.replayDir
          : join(this.o.workDir, loop.spec.agent.replayDir)
        : undefined,
    });
    const limits = loop.spec.limits;
    let iteration = loop.status.iteration;
    let costUsd = loop.cost.usd;
    const failures = new Map<string, number>();
    let lastFailure: { story: string; text: string } | undefined;
    let noDiff = 0;
    const decisions: string[] = [];
    let lastGates: GateResult[] = [];
    const ignore = [prdPath, notesPath];

    for (;;) {
      this.checkStop();
      const story = nextReadyStory(prd);
      const progress = storyProgress(prd);
      if (progress.done === progress.total) {
        return this.finish(git, base, prd, lastGates, decisions, {
          outcome: "synced",
          reason: "all-stories-passed",
          message: `all ${progress.total} stories pass`,
        });
      }
      if (!story) {
        return this.finish(git, base, prd, lastGates, decisions, {
          outcome: "flatline",
          reason: "needs-human",
          message: "no story is ready: the remaining ones depend on stories that are not done",
        });
      }
      if (iteration - loop.status.iterationBase >= limits.maxIterations) {
        return this.finish(git, base, prd, lastGates, decisions, {
          outcome: "flatline",
          reason: "max-iterations-reached",
          message: `${limits.maxIterations} iterations without finishing`,
        });
      }
      if (limits.maxCostUsd !== undefined && costUsd >= limits.maxCostUsd) {
        return this.finish(git, base, prd, lastGates, decisions, {
          outcome: "flatline",
          reason: "budget-exceeded",
          message: `cost $${costUsd.toFixed(4)} reached the budget of $${limits.maxCostUsd}`,
        });
      }
      if (loop.status.startedAt && Date.parse(loop.status.startedAt) + limits.timeoutMs < Date.now()) {
        return this.finish(git, base, prd, lastGates, decisions, {
          outcome: "flatline",
          reason: "timed-out",
          message: `the loop ran past its ${limits.timeoutMs} ms timeout`,
        });
      }

      iteration++;
      spec = await withRetry(() => client.replica.getSpec.query({ loopId }), { signal: this.stopController.signal });
      const steering = spec.steering;
      const prompt = buildPrompt({
        prd,
        story,
        gates,
        prdPath,
        progressNotes: existsSync(notesFile) ? readFileSync(notesFile, "utf8") : "",
        handoff: spec.latestHandoff,
        steering,
        iteration,
        attempt,
        lastFailure: lastFailure?.story === story.id ? lastFailure.text : undefined,
      });
      this.note(
        "prompt",
        `iteration ${iteration}: ${story.id} ${story.title}${steering.length ? ` (+${steering.length} steering message${steering.length > 1 ? "s" : ""})` : ""}`,
        {
          metadata: { storyId: story.id, iteration, promptBytes: prompt.length },
        },
      );
      if (steering.length) {
        await withRetry(() => client.replica.ackSteering.mutate({ loopId, ids: steering.map((s) => s.id) }), {
          signal: this.stopController.signal,
        });
        for (const s of steering) this.note("steer", `delivered to iteration ${iteration}: ${s.message.slice(0, 500)}`);
      }

      const result = await agent.run({
        prompt,
        cwd: this.o.workDir,
        env,
        timeoutMs: limits.agentTimeoutMs,
        signal: this.stopController.signal,
        storyId: story.id,
        model: loop.spec.agent.model,
        args: loop.spec.agent.args,
        onEvent: (e) => this.agentEvent(loop.spec.agent.provider, e),
      });
      this.checkStop();
      costUsd += result.usd ?? 0;
      this.note("agent", agentSummary(result), {
        level: result.exitCode === 0 && !result.isError ? "info" : "warn",
        exitCode: result.exitCode ?? undefined,
        durationMs: result.durationMs,
        metadata: {
          inputTokens: result.inputTokens,
          outputTokens: result.outputTokens,
          usd: result.usd,
          timedOut: result.timedOut,
          storyId: story.id,
        },
      });
      if (result.summary) decisions.push(`${story.id}: ${result.summary.slice(0, 500)}`);

      const changed = await git.changedPaths(ignore);
      let passed = false;
      let failureText = "";
      if (result.timedOut) failureText = `the agent timed out after ${limits.agentTimeoutMs} ms`;
      else if (result.exitCode !== 0 || result.isError)
        failureText = `the agent failed (exit ${result.exitCode})${result.stderrTail ? `: ${result.stderrTail}` : ""}`;
      else {
        lastGates = [];
        passed = true;
        for (const gate of gates) {
          this.checkStop();
          const g = await runGate(gate, {
            cwd: this.o.workDir,
            env,
            timeoutMs: this.o.gateTimeoutMs ?? 10 * 60_000,
            signal: this.stopController.signal,
          });
          lastGates.push(g);
          this.note(
            "gate",
            `${g.passed ? "passed" : "failed"}: ${gate}${g.timedOut ? " (timed out)" : ""}${g.passed ? "" : `\n${g.outputTail}`}`,
            {
              level: g.passed ? "info" : "warn",
              command: gate,
              exitCode: g.exitCode ?? undefined,
              durationMs: g.durationMs,
              metadata: { outputTail: g.outputTail, storyId: story.id },
            },
          );
          if (!g.passed) {
            passed = false;
            failureText = `quality gate \`${gate}\` failed (exit ${g.exitCode}):\n${g.outputTail}`;
            break;
          }
        }
      }
      this.checkStop();

      const at = new Date().toISOString();
      appendFileSync(
        notesFile,
        `\n## ${at} — ${story.id} (iteration ${iteration}, attempt ${attempt}): ${passed ? "passed" : "failed"}\n${passed ? (result.summary ?? "").slice(0, 2000) : failureText.slice(0, 2000)}\n`,
      );
      if (passed) {
        prd = markStory(prd, story.id, "done", at);
        writeFileSync(prdFile, serializePrd(prd));
        const commitStart = performance.now();
        const sha = await git.commitAll(`feat(${story.id}): ${story.title}`);
        this.note(
          "commit",
          `feat(${story.id}): ${story.title} (${sha.slice(0, 12)}, ${changed.length} files changed by the agent)`,
          {
            durationMs: Math.round(performance.now() - commitStart),
            metadata: { sha, storyId: story.id, files: changed.slice(0, 50) },
          },
        );
        const pushStart = performance.now();
        await git.push(branch);
        this.note("push", `pushed ${branch}`, {
          command: `git push origin HEAD:${branch}`,
          exitCode: 0,
          durationMs: Math.round(performance.now() - pushStart),
        });
        failures.delete(story.id);
        lastFailure = undefined;
        noDiff = 0;
      } else {
        const n = (failures.get(story.id) ?? 0) + 1;
        failures.set(story.id, n);
        lastFailure = { story: story.id, text: failureText };
        noDiff = changed.length === 0 ? noDiff + 1 : 0;
      }
      const iterationDone = {
        loopId,
        iteration,
        progress: storyProgress(prd),
        usage: { inputTokens: result.inputTokens, outputTokens: result.outputTokens, usd: result.usd ?? 0 },
      };
      await withRetry(() => client.replica.recordIteration.mutate(iterationDone), {
        signal: this.stopController.signal,
      });
      if (!passed && (failures.get(story.id) ?? 0) >= limits.maxConsecutiveFailures) {
        return this.finish(git, base, prd, lastGates, decisions, {
          outcome: "flatline",
          reason: "needs-human",
          message: `${story.id} failed ${limits.maxConsecutiveFailures} iterations in a row: ${failureText.split("\n")[0] ?? ""}`,
        });
      }
      if (noDiff >= limits.noProgressIterations) {
        return this.finish(git, base, prd, lastGates, decisions, {
          outcome: "flatline",
          reason: "no-progress",
          message: `${noDiff} iterations in a row changed nothing`,
        });
      }
    }
  }

  private agentEvent(provider: string, e: AgentEvent): void {
    const actor = { type: "agent" as const, id: provider };
    const write = (message: string, metadata: Record<string, unknown> = {}) =>
      this.journal.write({
        phase: "agent",
        level: "debug",
        actor,
        message: tailText(message, 4 * 1024),
        metadata: { event: e.type, ...metadata },
      });
    switch (e.type) {
      case "text":
        if (e.text.trim()) write(e.text);
        break;
      case "tool_use":
        write(`tool ${e.tool}${e.input ? `: ${e.input}` : ""}`, { tool: e.tool });
        break;
      case "tool_result":
        write(
          `${e.isError ? "tool error" : "tool result"}${e.tool ? ` (${e.tool})` : ""}${e.output ? `: ${e.output}` : ""}`,
          { isError: e.isError ?? false },
        );
        break;
      case "usage":
        write(
          `usage: ${e.inputTokens} in / ${e.outputTokens} out${e.usd !== undefined ? ` / $${e.usd.toFixed(4)}` : ""}`,
          { inputTokens: e.inputTokens, outputTokens: e.outputTokens, usd: e.usd },
        );
        break;
      case "log":
        if (e.line.trim()) write(e.line, { stream: e.stream });
        break;
    }
  }

  /** The handoff for the next attempt (or a person), then the outcome. */
  private async finish(
    git: Git,
    base: string,
    prd: Prd,
    gates: GateResult[],
    decisions: string[],
    outcome: Outcome,
  ): Promise<Outcome> {
    const diffSummary = await git.diffStat(base).catch(() => "");
    const sha = await git.headSha().catch(() => "");
    const failedGate = gates.find((g) => !g.passed);
    const handoff: Omit<Handoff, "schemaVersion" | "loopId" | "attempt" | "createdAt"> = {
      done: prd.stories.filter((s) => s.status === "done").map((s) => `${s.id}: ${s.title}`),
      remaining: prd.stories.filter((s) => s.status !== "done").map((s) => `${s.id}: ${s.title}`),
      decisions: decisions.slice(-20),
      uncertain: failedGate ? [`${failedGate.command} failed: ${failedGate.outputTail.slice(-1000)}`] : [],
      diffSummary,
      validation: {
        state: gates.length === 0 ? "not-run" : failedGate ? "failed" : "passed",
        details: gates.map((g) => `${g.passed ? "pass" : "FAIL"} ${g.command} (${g.durationMs} ms)`).join("\n"),
      },
      nextSteps:
        outcome.outcome === "synced"
          ? ["review and merge the work branch"]
          : prd.stories.filter((s) => s.status !== "done").map((s) => `finish ${s.id}: ${s.title}`),
      artifactRefs: sha ? [`commit:${sha}`] : [],
    };
    await withRetry(() => this.o.client.replica.writeHandoff.mutate({ loopId: this.o.loopId, handoff }));
    this.note("handoff", `handoff written: ${handoff.done.length} done, ${handoff.remaining.length} remaining`);
    return outcome;
  }
}

function agentSummary(r: AgentResult): string {
  const status = r.timedOut
    ? "timed out"
    : r.cancelled
      ? "cancelled"
      : r.exitCode === 0 && !r.isError
        ? "finished"
        : `failed (exit ${r.exitCode})`;
  const usage = `${r.inputTokens} in / ${r.outputTokens} out${r.usd !== undefined ? `, $${r.usd.toFixed(4)}` : ""}`;
  return `agent ${status} in ${r.durationMs} ms (${usage})${r.summary ? `: ${r.summary.slice(0, 1000)}` : ""}`;
}
