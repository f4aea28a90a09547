import { connect, type Socket } from "node:net";
import { LineSplitter } from "./lineSplitter.ts";
import type { ProcessResult } from "./process.ts";

/**
 * The wire format between a replica and an agent runner (`smith-agent-runner`, a separate
 * container of the replica Pod running as another uid): newline-delimited JSON over a unix socket,
 * one command per connection. The replica sends one `run` request and may then send `cancel`;
 * the runner answers with `line` messages while the command runs and one `result`. Closing the
 * connection before the result cancels the command (the replica died: its agent must not go on).
 */
export interface RunnerRunRequest {
  type: "run";
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  stdin?: string;
  timeoutMs: number;
  killGraceMs: number;
  maxLineBytes: number;
  stderrTailBytes: number;
  outputTailBytes?: number;
}

/** Asks who the runner is (its uid and gid), without running anything: the replica's start-up check. */
interface RunnerPingRequest {
  type: "ping";
}

interface RunnerCancelRequest {
  type: "cancel";
}

export type RunnerRequest = RunnerRunRequest | RunnerPingRequest | RunnerCancelRequest;

export type RunnerMessage =
  | { type: "line"; stream: "stdout" | "stderr"; line: string }
  | { type: "result"; result: ProcessResult }
  | { type: "pong"; uid: number; gid: number }
  /** The request was refused (malformed, a cwd outside the runner's root); nothing ran. */
  | { type: "error"; message: string };

/**
 * A runner message is one JSON line: a stdout/stderr line or a result's two tails (each at most
 * 1 MiB) escaped into JSON can grow up to six times; anything longer is a broken runner.
 */
export const MAX_RUNNER_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The agent runner could not be reached, broke off or answered nonsense: the attempt must fail, not hang. */
export class AgentRunnerError extends Error {
  readonly socketPath: string;
  constructor(socketPath: string, message: string) {
    super(`agent runner at ${socketPath}: ${message}`);
    this.name = "AgentRunnerError";
    this.socketPath = socketPath;
  }
}

/** How long the runner may take beyond the command's own timeout and kill grace to send its result. */
const RESULT_SLACK_MS = 10_000;

/**
 * One exchange with the runner: sends `request`, hands each message to `onMessage` until it
 * returns true (done), and rejects with AgentRunnerError when the socket cannot be reached, closes
 * early, carries a malformed or oversized message, or stays silent past `deadlineMs`.
 */
function exchange(
  socketPath: string,
  request: RunnerRequest,
  deadlineMs: number,
  onMessage: (message: RunnerMessage, socket: Socket) => boolean,
  onSocket?: (socket: Socket) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const socket = connect(socketPath);
    const fail = (message: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new AgentRunnerError(socketPath, message));
    };
    const timer = setTimeout(() => fail(`no answer within ${deadlineMs} ms`), deadlineMs);
    const lines = new LineSplitter(MAX_RUNNER_MESSAGE_BYTES, (line) => {
      if (done) return;
      if (Buffer.byteLength(line) >= MAX_RUNNER_MESSAGE_BYTES) return fail("a message longer than the protocol allows");
      let message: RunnerMessage;
      try {
        message = JSON.parse(line) as RunnerMessage;
      } catch {
        return fail("a message that is not JSON");
      }
      if (message.type === "error") return fail(`refused the request: ${message.message}`);
      if (onMessage(message, socket)) {
        done = true;
        clearTimeout(timer);
        socket.end();
        resolve();
      }
    });
    socket.on("connect", () => {
      socket.write(`${JSON.stringify(request)}\n`);
      onSocket?.(socket);
    });
    socket.on("data", (chunk: Buffer) => lines.push(chunk));
    socket.on("error", (err) => fail(err.message));
    socket.on("close", () => fail("the connection closed before the result"));
  });
}

/** Who the runner runs commands as; rejects with AgentRunnerError when it does not answer within `timeoutMs`. */
export async function pingRunner(socketPath: string, timeoutMs = 5_000): Promise<{ uid: number; gid: number }> {
  let identity: { uid: number; gid: number } | undefined;
  await exchange(socketPath, { type: "ping" }, timeoutMs, (m) => {
    if (m.type !== "pong") return false;
    identity = { uid: m.uid, gid: m.gid };
    return true;
  });
  if (!identity) throw new AgentRunnerError(socketPath, "no identity in its answer");
  return identity;
}

/**
 * Runs one command through the runner with `runProcess`'s semantics (the runner calls
 * `runProcess` itself): lines as they arrive, the same result, the process group killed on
 * timeout or abort. An abort is sent as `cancel` and the runner's result (cancelled) awaited.
 */
export async function runRemoteProcess(
  socketPath: string,
  request: Omit<RunnerRunRequest, "type">,
  options: { signal?: AbortSignal; onLine: (stream: "stdout" | "stderr", line: string) => void },
): Promise<ProcessResult> {
  let result: ProcessResult | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await exchange(
      socketPath,
      { type: "run", ...request },
      request.timeoutMs + request.killGraceMs + RESULT_SLACK_MS,
      (m) => {
        if (m.type === "line") {
          options.onLine(m.stream, m.line);
          return false;
        }
        if (m.type !== "result") return false;
        result = m.result;
        return true;
      },
      (socket) => {
        onAbort = () => socket.write(`${JSON.stringify({ type: "cancel" } satisfies RunnerCancelRequest)}\n`);
        if (options.signal?.aborted) onAbort();
        else options.signal?.addEventListener("abort", onAbort, { once: true });
      },
    );
  } finally {
    if (onAbort) options.signal?.removeEventListener("abort", onAbort);
  }
  if (!result) throw new AgentRunnerError(socketPath, "no result");
  return result;
}
