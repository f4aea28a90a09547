import { runProcess } from "@smith/agents";
import { LIMITS, type ProcessGroupObserver, type ProcessIdentity } from "@smith/core";
import type { AttemptContext } from "./context.ts";

export interface GateResult {
  command: string;
  exitCode: number | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  /** The last bytes of stdout and stderr together (bounded). */
  outputTail: string;
  passed: boolean;
  /** Failed, but it failed on the untouched base too (does not block under `baseline: no-worse`). */
  failedAtBaseline?: boolean;
}

interface GateOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  runAs?: ProcessIdentity;
  runner?: { socketPath: string };
  processGroups?: ProcessGroupObserver;
}

/**
 * Runs one quality gate through the shell with the agents' process runner: its own process group,
 * so a timeout or a cancel kills everything it started (a test runner's workers, a dev server),
 * and a bounded tail of its output.
 */
async function runGate(command: string, options: GateOptions): Promise<GateResult> {
  const r = await runProcess({
    command: "/bin/sh",
    args: ["-c", command],
    cwd: options.cwd,
    env: options.env,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    // Gates print whole test reports; a line longer than this is noise in a tail of 8 KiB anyway.
    maxLineBytes: 64 * 1024,
    outputTailBytes: LIMITS.outputTailBytes,
    ...(options.runAs ? { runAs: options.runAs } : {}),
    ...(options.runner ? { runner: options.runner } : {}),
    ...(options.processGroups ? { processGroups: options.processGroups } : {}),
  });
  return {
    command,
    exitCode: r.exitCode,
    timedOut: r.timedOut,
    cancelled: r.cancelled,
    durationMs: r.durationMs,
    outputTail: r.outputTail ?? r.stderrTail,
    passed: r.exitCode === 0 && !r.timedOut && !r.cancelled,
  };
}

export interface GatesRun {
  passed: boolean;
  results: GateResult[];
  /** Why they did not pass, for the agent's next prompt. */
  failure: string;
}

export interface GatesOptions {
  env: Record<string, string>;
  timeoutMs: number;
  /** Where they run (default: the workspace). */
  cwd?: string;
  /** The journal phase: story gates, the baseline, or the final verification. */
  phase?: "gate" | "baseline" | "verify";
  storyId?: string;
  /**
   * Commands that failed on the untouched base: with `baseline: no-worse` their failure does not
   * block (the story did not break them), and the remaining gates still run.
   */
  failingAtBaseline?: ReadonlySet<string>;
  /** Run every gate even after one blocks (the baseline wants every result). */
  runAll?: boolean;
}

/** Runs the gates in order, journaling each; stops at the first that blocks unless `runAll`. */
export async function runGates(
  ctx: AttemptContext,
  gates: readonly string[],
  options: GatesOptions,
): Promise<GatesRun> {
  const results: GateResult[] = [];
  const failures: string[] = [];
  const phase = options.phase ?? "gate";
  for (const gate of gates) {
    ctx.checkStop();
    const cwd = options.cwd ?? ctx.workDir;
    const run = await runGate(gate, {
      cwd,
      ...ctx.untrusted(cwd, options.env),
      timeoutMs: options.timeoutMs,
      signal: ctx.signal,
    });
    const g: GateResult =
      !run.passed && options.failingAtBaseline?.has(gate) ? { ...run, failedAtBaseline: true } : run;
    results.push(g);
    ctx.note(
      phase,
      `${g.passed ? "passed" : g.failedAtBaseline ? "failed (as on the base: not held against the story)" : "failed"}: ${gate}${g.timedOut ? " (timed out)" : ""}${g.passed ? "" : `\n${g.outputTail}`}`,
      {
        level: g.passed || g.failedAtBaseline ? "info" : "warn",
        command: gate,
        exitCode: g.exitCode ?? undefined,
        durationMs: g.durationMs,
        metadata: { outputTail: g.outputTail, ...(options.storyId ? { storyId: options.storyId } : {}) },
      },
    );
    if (!g.passed && !g.failedAtBaseline) {
      failures.push(
        `quality gate \`${gate}\` failed (exit ${g.exitCode}${g.timedOut ? ", timed out" : ""}):\n${g.outputTail}`,
      );
      if (!options.runAll) break;
    }
  }
  return { passed: failures.length === 0, results, failure: failures.join("\n\n") };
}

/** Runs setup commands (dependency installs) in order; the first failure is returned. */
export async function runSetup(
  ctx: AttemptContext,
  commands: readonly string[],
  options: { env: Record<string, string>; timeoutMs: number; cwd?: string },
): Promise<GateResult | undefined> {
  for (const command of commands) {
    ctx.checkStop();
    const cwd = options.cwd ?? ctx.workDir;
    const r = await runGate(command, {
      cwd,
      ...ctx.untrusted(cwd, options.env),
      timeoutMs: options.timeoutMs,
      signal: ctx.signal,
    });
    ctx.note("workspace", `setup ${r.passed ? "done" : "failed"}: ${command}${r.passed ? "" : `\n${r.outputTail}`}`, {
      level: r.passed ? "info" : "warn",
      command,
      exitCode: r.exitCode ?? undefined,
      durationMs: r.durationMs,
    });
    if (!r.passed) return r;
  }
  return undefined;
}
