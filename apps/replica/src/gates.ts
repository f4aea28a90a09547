import { runProcess } from "@smith/agents";
import { LIMITS } from "@smith/core";
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
}

export interface GateOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Runs one quality gate through the shell with the agents' process runner: its own process group,
 * so a timeout or a cancel kills everything it started (a test runner's workers, a dev server),
 * and a bounded tail of its output.
 */
export async function runGate(command: string, options: GateOptions): Promise<GateResult> {
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

/** Runs the gates in order, journaling each; stops at the first that fails. */
export async function runGates(
  ctx: AttemptContext,
  gates: readonly string[],
  options: { env: Record<string, string>; timeoutMs: number; storyId: string },
): Promise<GatesRun> {
  const results: GateResult[] = [];
  for (const gate of gates) {
    ctx.checkStop();
    const g = await runGate(gate, {
      cwd: ctx.workDir,
      env: options.env,
      timeoutMs: options.timeoutMs,
      signal: ctx.signal,
    });
    results.push(g);
    ctx.note(
      "gate",
      `${g.passed ? "passed" : "failed"}: ${gate}${g.timedOut ? " (timed out)" : ""}${g.passed ? "" : `\n${g.outputTail}`}`,
      {
        level: g.passed ? "info" : "warn",
        command: gate,
        exitCode: g.exitCode ?? undefined,
        durationMs: g.durationMs,
        metadata: { outputTail: g.outputTail, storyId: options.storyId },
      },
    );
    if (!g.passed) {
      return {
        passed: false,
        results,
        failure: `quality gate \`${gate}\` failed (exit ${g.exitCode}):\n${g.outputTail}`,
      };
    }
  }
  return { passed: true, results, failure: "" };
}
