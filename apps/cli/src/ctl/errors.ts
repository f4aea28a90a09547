import { TRPCClientError } from "@smith/client";
import { visibleLine } from "@smith/core";

/** The command line is wrong: unknown command or flag, a missing or malformed argument. Exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The server refused or failed, the server could not be reached, or a local file could not be read. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

export interface ExplainedError {
  lines: string[];
  exitCode: typeof EXIT_FAILURE | typeof EXIT_USAGE;
}

interface ServerErrorData {
  code: string;
  issues: { path: string; message: string }[];
}

/**
 * What smithctl prints to stderr for an error, and the exit code it ends with. A server's message
 * may echo a title, a reason or an argument: each line is shown as one visible line (control
 * characters escaped).
 */
export function explainError(err: unknown, serverUrl?: string): ExplainedError {
  const explained = explainRaw(err, serverUrl);
  return { lines: explained.lines.map(visibleLine), exitCode: explained.exitCode };
}

function explainRaw(err: unknown, serverUrl?: string): ExplainedError {
  if (err instanceof UsageError)
    return { lines: [`error: ${err.message}`, "Run 'smithctl --help' for usage."], exitCode: EXIT_USAGE };
  if (err instanceof TRPCClientError) {
    const data = serverErrorData(err.data);
    if (data) return { lines: serverErrorLines(data, err.message), exitCode: EXIT_FAILURE };
    // No error shape from the server: the request never got an answer (refused, DNS, TLS, a proxy).
    const cause = err.cause instanceof Error ? err.cause : undefined;
    const detail = cause ? describeCause(cause) : err.message;
    return {
      lines: [`error: cannot reach the Smith API${serverUrl ? ` at ${serverUrl}` : ""}: ${detail}`],
      exitCode: EXIT_FAILURE,
    };
  }
  return { lines: [`error: ${err instanceof Error ? err.message : String(err)}`], exitCode: EXIT_FAILURE };
}

function serverErrorLines(data: ServerErrorData, message: string): string[] {
  const head = `Error from server (${data.code})`;
  const issueLines = data.issues.map((i) => `  ${i.path || "input"}: ${i.message}`);
  // zod errors arrive with the issues joined into the message; print them one per line instead.
  const joined = data.issues.map((i) => `${i.path || "input"}: ${i.message}`).join("; ");
  if (data.issues.length > 0 && message === joined) {
    return data.issues.length === 1
      ? [`${head}: ${message}`]
      : [`${head}: ${data.issues.length} invalid fields`, ...issueLines];
  }
  return [`${head}: ${message}`, ...issueLines];
}

function serverErrorData(data: unknown): ServerErrorData | undefined {
  if (typeof data !== "object" || data === null || !("code" in data) || typeof data.code !== "string") return undefined;
  const rawIssues: unknown = "issues" in data ? data.issues : undefined;
  const issues: ServerErrorData["issues"] = [];
  if (Array.isArray(rawIssues)) {
    for (const i of rawIssues as unknown[]) {
      if (typeof i === "object" && i !== null && "path" in i && "message" in i)
        issues.push({ path: String(i.path), message: String(i.message) });
    }
  }
  return { code: data.code, issues };
}

function describeCause(cause: Error): string {
  // fetch wraps the socket error (ECONNREFUSED, ENOTFOUND) one level further down.
  const inner = cause.cause instanceof Error ? cause.cause : undefined;
  const code = inner && "code" in inner && typeof inner.code === "string" ? inner.code : undefined;
  return code ? `${cause.message} (${code})` : inner ? `${cause.message}: ${inner.message}` : cause.message;
}
