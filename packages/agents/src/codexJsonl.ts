import { type AgentEvent, tailText } from "@smith/core";
import type { OutputParser, ParsedOutcome } from "./agentCli.ts";
import { BOUNDS, headText } from "./bounds.ts";
import { type JsonObject, count, isObject, parseJsonObject, str } from "./json.ts";
import { codexLimit } from "./limits.ts";
import { summarizeToolInput } from "./toolInput.ts";

/**
 * Parses `codex exec --json` output: one thread event per line (`thread.started`,
 * `turn.started`, `item.started|updated|completed`, `turn.completed`, `turn.failed`, `error`).
 * See docs/agents.md for the format and the mapping.
 */
export class CodexJsonlParser implements OutputParser {
  /** Items already announced with a `tool_use` event (by item id). */
  private readonly announced = new Set<string>();
  private usage: { inputTokens: number; outputTokens: number } | undefined;
  private turnCompleted = false;
  private turnFailed: string | undefined;
  private lastMessage: string | undefined;
  /** The last `error` event's message: a usage limit is announced there before the turn fails. */
  private lastError: string | undefined;
  private readonly now: () => Date;

  /** `now` anchors a reset time given as a clock time ("Try again at 3:15 PM."). */
  constructor(options: { now?: () => Date } = {}) {
    this.now = options.now ?? (() => new Date());
  }

  parse(line: string): AgentEvent[] | undefined {
    const event = parseJsonObject(line);
    const type = str(event?.type);
    if (!event || type === undefined) return undefined;
    switch (type) {
      case "turn.completed":
        return this.turnCompletedEvent(event);
      case "turn.failed": {
        const error = isObject(event.error) ? str(event.error.message) : undefined;
        this.turnFailed = error ?? "turn failed";
        return [
          { type: "log", stream: "stdout", line: headText(`turn failed: ${this.turnFailed}`, BOUNDS.logLineBytes) },
        ];
      }
      case "error":
        // Not necessarily fatal: Codex reports its reconnect attempts as `error` events too
        // ("Reconnecting... 2/5"); the turn's end (`turn.completed` or `turn.failed`) decides.
        this.lastError = str(event.message) ?? this.lastError;
        return [
          { type: "log", stream: "stdout", line: headText(`error: ${str(event.message) ?? ""}`, BOUNDS.logLineBytes) },
        ];
      case "item.started":
      case "item.updated":
      case "item.completed":
        return isObject(event.item) ? this.item(type, event.item) : [];
      default:
        // thread.started, turn.started, and event types newer than this parser.
        return [];
    }
  }

  outcome(): ParsedOutcome {
    const failed = this.turnFailed !== undefined || !this.turnCompleted;
    const summary = this.turnFailed ?? this.lastMessage;
    // Only a failed run can have failed on a limit; the failure's own words first.
    const limit = failed
      ? ((this.turnFailed !== undefined ? codexLimit(this.turnFailed, this.now()) : undefined) ??
        (this.lastError !== undefined ? codexLimit(this.lastError, this.now()) : undefined))
      : undefined;
    return {
      inputTokens: this.usage?.inputTokens ?? 0,
      outputTokens: this.usage?.outputTokens ?? 0,
      ...(summary !== undefined ? { summary } : {}),
      isError: failed,
      ...(limit ? { limit } : {}),
    };
  }

  private turnCompletedEvent(event: JsonObject): AgentEvent[] {
    this.turnCompleted = true;
    const usage = isObject(event.usage) ? event.usage : {};
    // Codex's input_tokens already includes cached_input_tokens, and output_tokens includes
    // reasoning tokens. The numbers are the thread's running total (exec builds them from the
    // thread's total usage), so the last turn.completed replaces, never adds to, the earlier.
    this.usage = { inputTokens: count(usage.input_tokens), outputTokens: count(usage.output_tokens) };
    return [{ type: "usage", ...this.usage }];
  }

  private item(phase: "item.started" | "item.updated" | "item.completed", item: JsonObject): AgentEvent[] {
    const id = str(item.id) ?? "";
    const completed = phase === "item.completed";
    switch (str(item.type)) {
      case "agent_message": {
        const text = str(item.text);
        if (!completed || text === undefined || text.trim() === "") return [];
        this.lastMessage = text;
        return [{ type: "text", text: headText(text, BOUNDS.textBytes) }];
      }
      case "reasoning": {
        const text = str(item.text);
        if (!completed || text === undefined || text.trim() === "") return [];
        return [{ type: "text", text: headText(text, BOUNDS.textBytes) }];
      }
      case "command_execution": {
        const exitCode = typeof item.exit_code === "number" ? item.exit_code : undefined;
        const status = str(item.status);
        const output = str(item.aggregated_output) ?? "";
        return this.tool(id, completed, "shell", str(item.command), {
          isError: status === "failed" || status === "declined" || (exitCode !== undefined && exitCode !== 0),
          ...(output !== "" ? { output: tailText(output, BOUNDS.toolOutputBytes) } : {}),
        });
      }
      case "file_change": {
        return this.tool(id, completed, "edit", describeChanges(item.changes), {
          isError: str(item.status) === "failed",
        });
      }
      case "mcp_tool_call": {
        const server = str(item.server) ?? "mcp";
        const tool = str(item.tool) ?? "tool";
        const error = isObject(item.error) ? str(item.error.message) : undefined;
        const output = error ?? mcpResultText(item.result);
        return this.tool(id, completed, `${server}.${tool}`, summarizeToolInput(item.arguments), {
          isError: str(item.status) === "failed" || error !== undefined,
          ...(output !== "" ? { output: tailText(output, BOUNDS.toolOutputBytes) } : {}),
        });
      }
      case "collab_tool_call": {
        return this.tool(
          id,
          completed,
          `agent.${str(item.tool) ?? "call"}`,
          summarizeToolInput({ prompt: item.prompt }),
          {
            isError: str(item.status) === "failed",
          },
        );
      }
      case "web_search": {
        // A search has no result worth journalling; announce it once.
        return this.announce(id, "web_search", str(item.query), completed);
      }
      case "todo_list": {
        if (completed) return [];
        const text = describeTodos(item.items);
        return text === "" ? [] : [{ type: "text", text: headText(text, BOUNDS.textBytes) }];
      }
      case "error": {
        // Non-fatal notices: config warnings, deprecations, model reroutes, transport fallbacks.
        if (!completed) return [];
        return [
          { type: "log", stream: "stdout", line: headText(`warning: ${str(item.message) ?? ""}`, BOUNDS.logLineBytes) },
        ];
      }
      default:
        return [];
    }
  }

  /** A tool call: `tool_use` when first seen, plus `tool_result` when completed. */
  private tool(
    id: string,
    completed: boolean,
    tool: string,
    input: string | undefined,
    result: { isError: boolean; output?: string },
  ): AgentEvent[] {
    const events = this.announce(id, tool, input, completed);
    if (completed) events.push({ type: "tool_result", tool, ...result });
    return events;
  }

  private announce(id: string, tool: string, input: string | undefined, completed: boolean): AgentEvent[] {
    // exec may report an item only when it completes (it reconciles unfinished ones at turn end).
    const seen = this.announced.has(id);
    if (completed) this.announced.delete(id);
    else this.announced.add(id);
    if (seen) return [];
    return [
      { type: "tool_use", tool, ...(input !== undefined ? { input: headText(input, BOUNDS.toolInputBytes) } : {}) },
    ];
  }
}

function describeChanges(changes: unknown): string | undefined {
  if (!Array.isArray(changes)) return undefined;
  const parts = changes.filter(isObject).map((change) => `${str(change.kind) ?? "update"} ${str(change.path) ?? "?"}`);
  return parts.length > 0 ? parts.join(", ") : undefined;
}

function describeTodos(items: unknown): string {
  if (!Array.isArray(items)) return "";
  const lines = items
    .filter(isObject)
    .map((todo) => `${todo.completed === true ? "[x]" : "[ ]"} ${str(todo.text) ?? ""}`);
  return lines.length > 0 ? `plan:\n${lines.join("\n")}` : "";
}

function mcpResultText(result: unknown): string {
  if (!isObject(result) || !Array.isArray(result.content)) return "";
  return result.content
    .filter(isObject)
    .map((block) => str(block.text) ?? `[${str(block.type) ?? "content"}]`)
    .join("\n");
}
