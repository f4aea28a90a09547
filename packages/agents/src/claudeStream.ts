import { type AgentEvent, tailText } from "@smith/core";
import type { OutputParser, ParsedOutcome } from "./agentCli.ts";
import { BOUNDS, headText } from "./bounds.ts";
import { type JsonObject, count, isObject, parseJsonObject, str } from "./json.ts";
import { claudeLimit, epochDate } from "./limits.ts";
import { summarizeToolInput } from "./toolInput.ts";

/** The message types of Claude Code's `--output-format stream-json` that this parser reads. */
const CLAUDE_TYPES = new Set(["system", "assistant", "user", "result"]);

export interface ClaudeStreamParserOptions {
  /**
   * Treat JSON lines of other `type`s as Claude's own (and skip them) rather than as unknown
   * output. True for the Claude Code adapter, whose CLI adds message types often
   * (`stream_event`, `rate_limit_event`, hook and task events...); false for a generic command
   * whose JSON logging is not Claude's.
   */
  ownsAllJson?: boolean;
  /** The clock that anchors a reset time given as a clock time ("resets 3pm"); default: now. */
  now?: () => Date;
}

/**
 * Parses Claude Code's stream-json output (one SDK message per line: `system`, `assistant`,
 * `user`, `result`, ...). See docs/agents.md for the format and the mapping.
 */
export class ClaudeStreamParser implements OutputParser {
  private readonly ownsAllJson: boolean;
  /** tool_use id → tool name, so that a tool_result can name its tool. */
  private readonly toolNames = new Map<string, string>();
  private result: ParsedOutcome | undefined;
  private readonly now: () => Date;
  /** A `rate_limit_event` whose status was `rejected`: the request was refused until `resetsAt`. */
  private rejected: { resetAt?: Date; type?: string } | undefined;
  /** An assistant message carried `error: "rate_limit"` (the SDK's SDKAssistantMessageError), with its text. */
  private assistantLimit: string | undefined;

  constructor(options: ClaudeStreamParserOptions = {}) {
    this.ownsAllJson = options.ownsAllJson ?? true;
    this.now = options.now ?? (() => new Date());
  }

  parse(line: string): AgentEvent[] | undefined {
    const message = parseJsonObject(line);
    const type = str(message?.type);
    if (!message || type === undefined) return undefined;
    if (type === "rate_limit_event" && this.ownsAllJson) return this.rateLimit(message);
    if (!CLAUDE_TYPES.has(type)) return this.ownsAllJson ? [] : undefined;
    switch (type) {
      case "assistant":
        return this.assistant(message);
      case "user":
        return this.user(message);
      case "result":
        return this.resultMessage(message);
      default:
        return this.system(message);
    }
  }

  /** Whether a `result` message was seen (a generic command need not print one). */
  get sawResult(): boolean {
    return this.result !== undefined;
  }

  outcome(): ParsedOutcome {
    // No result message means the CLI died or was killed before finishing its turn.
    const outcome = this.result ?? { inputTokens: 0, outputTokens: 0, isError: true };
    if (!outcome.isError) return outcome;
    // A failed run after a refused request is a usage limit, reset when the event said: its
    // Unix time beats the result's clock time ("resets 3pm (Zone)").
    if (this.rejected) {
      const text = outcome.summary ?? this.assistantLimit ?? `rate limit ${this.rejected.type ?? ""} rejected`.trim();
      const said = outcome.limit ?? claudeLimit(text, this.now());
      const resetAt = this.rejected.resetAt ?? said?.resetAt;
      return {
        ...outcome,
        limit: { kind: "usage-limit", message: said?.message ?? text, ...(resetAt ? { resetAt } : {}) },
      };
    }
    if (outcome.limit || this.assistantLimit === undefined) return outcome;
    const said = claudeLimit(this.assistantLimit, this.now());
    return { ...outcome, limit: said ?? { kind: "rate-limit", message: this.assistantLimit } };
  }

  /**
   * `{"type":"rate_limit_event","rate_limit_info":{"status":"allowed"|"allowed_warning"|"rejected",
   * "resetsAt":<unix s>,"rateLimitType":"five_hour"|"seven_day"|…,…}}`: only a rejection matters.
   */
  private rateLimit(message: JsonObject): AgentEvent[] {
    const info = isObject(message.rate_limit_info) ? message.rate_limit_info : {};
    if (str(info.status) !== "rejected") return [];
    const resetAt = epochDate(info.resetsAt);
    const type = str(info.rateLimitType);
    this.rejected = { ...(resetAt ? { resetAt } : {}), ...(type ? { type } : {}) };
    return [
      {
        type: "log",
        stream: "stdout",
        line: `rate limit${type ? ` ${type}` : ""} rejected${resetAt ? `; resets at ${resetAt.toISOString()}` : ""}`,
      },
    ];
  }

  private system(message: JsonObject): AgentEvent[] {
    // Retries explain a silent minute in the journal; `init` and the rest are bookkeeping.
    if (message.subtype === "api_retry") {
      const attempt = count(message.attempt);
      const max = count(message.max_retries);
      const error = str(message.error) ?? "unknown error";
      return [{ type: "log", stream: "stdout", line: `api retry ${attempt}/${max}: ${error}` }];
    }
    return [];
  }

  private assistant(message: JsonObject): AgentEvent[] {
    const events: AgentEvent[] = [];
    const error = str(message.error);
    if (error)
      events.push({ type: "log", stream: "stdout", line: `assistant error: ${headText(error, BOUNDS.logLineBytes)}` });
    const inner = isObject(message.message) ? message.message : undefined;
    const content = Array.isArray(inner?.content) ? inner.content : [];
    if (error === "rate_limit") {
      const said = content
        .filter(isObject)
        .map((b) => str(b.text) ?? "")
        .join("\n")
        .trim();
      this.assistantLimit = said || "rate_limit";
    }
    for (const block of content) {
      if (!isObject(block)) continue;
      if (block.type === "text") {
        const text = str(block.text);
        if (text && text.trim() !== "") events.push({ type: "text", text: headText(text, BOUNDS.textBytes) });
      } else if (block.type === "tool_use" || block.type === "server_tool_use" || block.type === "mcp_tool_use") {
        const tool = str(block.name) ?? "tool";
        const id = str(block.id);
        if (id) this.toolNames.set(id, tool);
        const input = summarizeToolInput(block.input);
        events.push({ type: "tool_use", tool, ...(input !== undefined ? { input } : {}) });
      }
      // `thinking` blocks are the model's private reasoning, often redacted: not journalled.
    }
    return events;
  }

  private user(message: JsonObject): AgentEvent[] {
    const inner = isObject(message.message) ? message.message : undefined;
    const content = Array.isArray(inner?.content) ? inner.content : [];
    const events: AgentEvent[] = [];
    for (const block of content) {
      if (!isObject(block) || block.type !== "tool_result") continue;
      const id = str(block.tool_use_id);
      const tool = id !== undefined ? this.toolNames.get(id) : undefined;
      if (id !== undefined) this.toolNames.delete(id);
      const output = toolResultText(block.content);
      events.push({
        type: "tool_result",
        ...(tool !== undefined ? { tool } : {}),
        isError: block.is_error === true,
        ...(output !== "" ? { output: tailText(output, BOUNDS.toolOutputBytes) } : {}),
      });
    }
    return events;
  }

  private resultMessage(message: JsonObject): AgentEvent[] {
    const usage = isObject(message.usage) ? message.usage : {};
    // Anthropic's input_tokens excludes cached prompt tokens; Codex's includes them. Summing the
    // cache writes and reads makes `inputTokens` mean the same for both: every prompt token the
    // model processed (the cost, which the CLI prices itself, tells cached from fresh).
    const inputTokens =
      count(usage.input_tokens) + count(usage.cache_creation_input_tokens) + count(usage.cache_read_input_tokens);
    const outputTokens = count(usage.output_tokens);
    const usd =
      typeof message.total_cost_usd === "number" && Number.isFinite(message.total_cost_usd)
        ? message.total_cost_usd
        : undefined;
    const errors = Array.isArray(message.errors)
      ? message.errors.filter((e): e is string => typeof e === "string")
      : [];
    const summary = str(message.result) ?? (errors.length > 0 ? errors.join("\n") : undefined);
    // Error subtypes (error_max_turns, error_during_execution...) carry is_error too; trust either.
    const isError = message.is_error === true || (str(message.subtype) ?? "success") !== "success";
    const apiStatus = typeof message.api_error_status === "number" ? message.api_error_status : undefined;
    const limit = isError ? claudeLimit([summary ?? "", ...errors].join("\n"), this.now(), apiStatus) : undefined;
    this.result = {
      inputTokens,
      outputTokens,
      ...(usd !== undefined ? { usd } : {}),
      ...(summary !== undefined ? { summary } : {}),
      isError,
      ...(limit ? { limit } : {}),
    };
    return [{ type: "usage", inputTokens, outputTokens, ...(usd !== undefined ? { usd } : {}) }];
  }
}

/** A tool_result's content: a string, or blocks of text (and images, which are only named). */
function toolResultText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  const parts: string[] = [];
  for (const block of content) {
    if (!isObject(block)) continue;
    const text = str(block.text);
    if (text !== undefined) parts.push(text);
    else if (typeof block.type === "string") parts.push(`[${block.type}]`);
  }
  return parts.join("\n");
}
