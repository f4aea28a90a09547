import type { AgentEvent, AgentLimit, AgentResult, AgentRunOptions } from "@smith/core";
import { BOUNDS, headText } from "./bounds.ts";
import { type ProcessResult, runProcess } from "./process.ts";

/** What an agent CLI reported about its run, read from its output. */
export interface ParsedOutcome {
  inputTokens: number;
  outputTokens: number;
  usd?: number;
  summary?: string;
  /** The CLI reported failure, or never reported a final result. */
  isError: boolean;
  /** The failure was a usage or rate limit of the provider (see limits.ts). */
  limit?: AgentLimit;
}

/** Turns an agent CLI's stdout into events, line by line, and sums up the run at the end. */
export interface OutputParser {
  /** The events one stdout line carries; undefined when the line is not in the parser's format. */
  parse(line: string): AgentEvent[] | undefined;
  outcome(): ParsedOutcome;
}

export interface CliInvocation {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Written to the CLI's stdin; without it stdin is /dev/null. */
  stdin?: string;
}

/**
 * Runs one agent CLI process for `run` and streams its output as events while it runs: stdout
 * lines go through `parser` (a line it does not recognise becomes a `log` event), stderr lines
 * become `log` events. A throwing `onEvent` is ignored: a bug in the journal writer must not
 * break the pipe reader and leave the agent's process tree running unwatched.
 */
export async function runAgentCli(
  run: AgentRunOptions,
  invocation: CliInvocation,
  parser: OutputParser,
): Promise<AgentResult> {
  const emit = eventEmitter(run.onEvent);
  const proc = await runProcess({
    command: invocation.command,
    args: invocation.args,
    cwd: run.cwd,
    env: invocation.env,
    ...(invocation.stdin !== undefined ? { stdin: invocation.stdin } : {}),
    timeoutMs: run.timeoutMs,
    ...(run.signal ? { signal: run.signal } : {}),
    ...(run.runAs ? { runAs: run.runAs } : {}),
    ...(run.runner ? { runner: run.runner } : {}),
    ...(run.processGroups ? { processGroups: run.processGroups } : {}),
    onLine: (stream, line) => {
      if (stream === "stdout") {
        const events = parser.parse(line);
        if (events) {
          for (const event of events) emit(event);
          return;
        }
      }
      if (line.trim() !== "") emit(logEvent(stream, line));
    },
  });
  return agentResult(proc, parser.outcome());
}

function agentResult(proc: ProcessResult, outcome: ParsedOutcome): AgentResult {
  return {
    exitCode: proc.exitCode,
    timedOut: proc.timedOut,
    cancelled: proc.cancelled,
    durationMs: proc.durationMs,
    inputTokens: outcome.inputTokens,
    outputTokens: outcome.outputTokens,
    ...(outcome.usd !== undefined ? { usd: outcome.usd } : {}),
    ...(outcome.summary !== undefined ? { summary: headText(outcome.summary, BOUNDS.summaryBytes) } : {}),
    isError: outcome.isError,
    stderrTail: proc.stderrTail,
    // A run that was killed (timeout, cancel) failed for that reason, whatever it printed before.
    ...(outcome.limit && !proc.timedOut && !proc.cancelled ? { limit: outcome.limit } : {}),
  };
}

function logEvent(stream: "stdout" | "stderr", line: string): AgentEvent {
  return { type: "log", stream, line: headText(line, BOUNDS.logLineBytes) };
}

export function eventEmitter(onEvent: AgentRunOptions["onEvent"]): (event: AgentEvent) => void {
  return (event) => {
    if (!onEvent) return;
    try {
      onEvent(event);
    } catch {
      // See runAgentCli: a listener's failure must not take the run down.
    }
  };
}
