import { tailText, type AgentEvent, type AgentResult } from "@smith/core";
import type { JournalWriter } from "./journal.ts";

/** Journals one of the agent's own events (debug level: the step entries carry the summary). */
export function journalAgentEvent(journal: JournalWriter, provider: string, e: AgentEvent): void {
  const actor = { type: "agent" as const, id: provider };
  const write = (message: string, metadata: Record<string, unknown> = {}) =>
    journal.write({
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

/** One line about an agent run: how it ended, its usage, and what it said it did. */
export function agentSummary(r: AgentResult): string {
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

/** Why an agent run counts as failed, or undefined when it finished normally. */
export function agentFailure(r: AgentResult, agentTimeoutMs: number): string | undefined {
  if (r.timedOut) return `the agent timed out after ${agentTimeoutMs} ms`;
  if (r.exitCode !== 0 || r.isError)
    return `the agent failed (exit ${r.exitCode})${r.stderrTail ? `: ${r.stderrTail}` : ""}`;
  return undefined;
}
