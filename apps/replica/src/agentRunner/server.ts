import { type ProcessResult, type RunnerMessage, type RunnerRunRequest, runProcess } from "@smith/agents";
import type { Logger } from "@smith/logger";
import { chmodSync, lstatSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { resolve, sep } from "node:path";
import { z } from "zod";

const MiB = 1024 * 1024;

/**
 * What a replica may ask: bounded, so a broken replica cannot make the runner hold gigabytes, and
 * every output bound small enough that one message stays under @smith/agents'
 * MAX_RUNNER_MESSAGE_BYTES once JSON-escaped (a byte can become six).
 */
const RunRequest = z.object({
  type: z.literal("run"),
  command: z.string().min(1).max(4096),
  args: z.array(z.string().max(MiB)).max(10_000),
  cwd: z.string().min(1).max(4096),
  env: z.record(z.string(), z.string().max(MiB)),
  stdin: z
    .string()
    .max(16 * MiB)
    .optional(),
  timeoutMs: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600_000),
  killGraceMs: z.number().int().min(0).max(60_000),
  maxLineBytes: z.number().int().min(1).max(MiB),
  stderrTailBytes: z.number().int().min(1).max(MiB),
  outputTailBytes: z.number().int().min(1).max(MiB).optional(),
});
const Request = z.discriminatedUnion("type", [RunRequest, z.object({ type: z.literal("ping") })]);
/** A run request carries the prompt on stdin: room for it and its JSON escaping. */
const MAX_REQUEST_BYTES = 6 * 16 * MiB;

export interface AgentRunnerServerOptions {
  /** The unix socket to listen on (created mode 0666 in a directory only the replica's Pod shares). */
  socketPath: string;
  /** Commands run only in this directory or below it (the shared workspace). */
  root: string;
  /**
   * Forced into every command's environment over what the replica sends: this container's own
   * HOME and TMPDIR (the replica's do not exist here).
   */
  env: Record<string, string>;
  /**
   * After each command, when none other runs, SIGKILL every process this uid may signal but
   * itself and PID 1 (`kill(-1)`): what an agent detached from its process group (a double fork)
   * dies before the next command. Only where the runner is alone with its commands in its PID
   * namespace (its own container, under tini): elsewhere it would kill every process of its user.
   */
  sweep: boolean;
  log: Logger;
}

/**
 * The agent runner: runs the replica's untrusted commands (the agent, gates, setup commands) in a
 * container of their own, as a uid of their own, with `runProcess`. One command per connection
 * (see `RunnerRequest` in @smith/agents). A connection that closes before its result cancels its
 * command: the replica is gone, its agent must not go on.
 */
export class AgentRunnerServer {
  private readonly o: AgentRunnerServerOptions;
  private readonly root: string;
  private server: Server | undefined;
  private readonly running = new Set<AbortController>();
  state: "starting" | "running" | "stopped" = "starting";

  constructor(options: AgentRunnerServerOptions) {
    this.o = options;
    this.root = resolve(options.root);
  }

  async start(): Promise<void> {
    // A socket left by an earlier run of this container (a restart of the sidecar) is stale.
    try {
      if (lstatSync(this.o.socketPath).isSocket()) rmSync(this.o.socketPath);
    } catch {
      // absent
    }
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((done, fail) => {
      server.once("error", fail);
      server.listen(this.o.socketPath, () => {
        server.off("error", fail);
        done();
      });
    });
    // The replica runs as another uid: it must be able to connect. Only the Pod's two containers
    // share the socket's directory.
    chmodSync(this.o.socketPath, 0o666);
    this.state = "running";
    this.o.log.info({ socket: this.o.socketPath, root: this.root }, "agent runner listening");
  }

  /** Stops listening and kills every running command's process group. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    for (const c of this.running) c.abort();
    const server = this.server;
    if (server) await new Promise<void>((done) => server.close(() => done()));
    rmSync(this.o.socketPath, { force: true });
  }

  private serve(socket: Socket): void {
    let buffered: Buffer[] = [];
    let size = 0;
    let controller: AbortController | undefined;
    const send = (message: RunnerMessage): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
    };
    const refuse = (message: string): void => {
      send({ type: "error", message });
      socket.end();
    };
    socket.on("error", () => controller?.abort());
    socket.on("close", () => controller?.abort());
    socket.on("data", (chunk: Buffer) => {
      if (controller) {
        // After the request, the only thing a replica sends is `cancel`.
        if (chunk.includes(0x0a)) controller.abort();
        return;
      }
      const newline = chunk.indexOf(0x0a);
      buffered.push(newline === -1 ? chunk : chunk.subarray(0, newline));
      size += newline === -1 ? chunk.length : newline;
      if (size > MAX_REQUEST_BYTES) return refuse(`request longer than ${MAX_REQUEST_BYTES} bytes`);
      if (newline === -1) return;
      const line = Buffer.concat(buffered).toString("utf8");
      buffered = [];
      let parsed: z.infer<typeof Request>;
      try {
        const result = Request.safeParse(JSON.parse(line));
        if (!result.success)
          return refuse(result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
        parsed = result.data;
      } catch {
        return refuse("request is not JSON");
      }
      if (parsed.type === "ping") {
        send({ type: "pong", uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 });
        socket.end();
        return;
      }
      const cwd = resolve(parsed.cwd);
      if (cwd !== this.root && !cwd.startsWith(this.root + sep))
        return refuse(`cwd must be inside ${this.root}, got ${JSON.stringify(parsed.cwd)}`);
      if (this.state !== "running") return refuse("the runner is stopping");
      controller = new AbortController();
      if (newline + 1 < chunk.length && chunk.subarray(newline + 1).includes(0x0a)) controller.abort();
      void this.run({ ...parsed, cwd }, controller, send).then(() => socket.end());
    });
  }

  private async run(
    request: RunnerRunRequest,
    controller: AbortController,
    send: (message: RunnerMessage) => void,
  ): Promise<void> {
    this.running.add(controller);
    let result: ProcessResult;
    try {
      result = await runProcess({
        command: request.command,
        args: request.args,
        cwd: request.cwd,
        env: { ...request.env, ...this.o.env },
        ...(request.stdin !== undefined ? { stdin: request.stdin } : {}),
        timeoutMs: request.timeoutMs,
        killGraceMs: request.killGraceMs,
        maxLineBytes: request.maxLineBytes,
        stderrTailBytes: request.stderrTailBytes,
        ...(request.outputTailBytes !== undefined ? { outputTailBytes: request.outputTailBytes } : {}),
        signal: controller.signal,
        onLine: (stream, line) => send({ type: "line", stream, line }),
      });
    } finally {
      this.running.delete(controller);
    }
    this.o.log.info(
      {
        command: request.command,
        exitCode: result.exitCode,
        signal: result.signal,
        timedOut: result.timedOut,
        cancelled: result.cancelled,
        durationMs: result.durationMs,
      },
      "command ended",
    );
    if (this.o.sweep && this.running.size === 0) this.sweep();
    send({ type: "result", result });
  }

  private sweep(): void {
    // Never as root, whatever the caller configured: kill(-1) there reaches every process.
    if (process.getuid?.() === 0) return;
    try {
      // Every process of this uid in this PID namespace but this one and PID 1 (tini).
      process.kill(-1, "SIGKILL");
    } catch {
      // ESRCH: nothing left to kill.
    }
  }
}
