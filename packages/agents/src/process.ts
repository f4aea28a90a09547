import type { ProcessGroupObserver } from "@smith/core";
import { type ChildProcess, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { BOUNDS } from "./bounds.ts";
import { LineSplitter } from "./lineSplitter.ts";
import { runRemoteProcess } from "./remoteProcess.ts";

export interface RunProcessOptions {
  /** The executable: a path, or a name looked up on `env.PATH` (not the caller's PATH). */
  command: string;
  args: readonly string[];
  cwd: string;
  /** The child's whole environment: nothing of the caller's `process.env` is inherited. */
  env: Record<string, string>;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  stdin?: string;
  /** After this long the whole process tree is killed and the result says `timedOut`. */
  timeoutMs: number;
  /** Aborting kills the whole process tree and the result says `cancelled`. */
  signal?: AbortSignal;
  /** Between SIGTERM and SIGKILL. Default 2000 ms. */
  killGraceMs?: number;
  /** Longer stdout/stderr lines are cut with a marker. Default 1 MiB. */
  maxLineBytes?: number;
  /** How much of stderr `stderrTail` keeps. Default `LIMITS.outputTailBytes`. */
  stderrTailBytes?: number;
  /**
   * When set, the result's `outputTail` keeps this many last bytes of stdout and stderr together,
   * in arrival order (what a person reads in a terminal: a test runner's failure and its summary).
   */
  outputTailBytes?: number;
  /** Each complete stdout/stderr line, as soon as it arrives. Must not throw. */
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
  /** Run as this user and group (the caller must be root). Default: the caller's own. */
  runAs?: { uid: number; gid: number };
  /**
   * Run it through the agent runner listening on this unix socket (`smith-agent-runner`, another
   * container of the replica Pod, another uid) instead of as a child of this process. The runner
   * calls `runProcess` itself, so lines, results, timeouts and cancellation are the same.
   */
  runner?: { socketPath: string };
  /**
   * Told of the process's group: `started(pid)` right after the spawn, `ended(pid)` once the group
   * is gone or has been sent SIGKILL, for a caller that must be able to end the group if it dies
   * itself (the group is not its own). Not used with `runner` (the runner's container ends with
   * the Pod).
   */
  processGroups?: ProcessGroupObserver;
}

export interface ProcessResult {
  /** The exit code; null when the process was killed by a signal (or never started). */
  exitCode: number | null;
  /** The signal that ended the process, if one did. */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  /** The last bytes of stderr (bounded); when the process could not start, why. */
  stderrTail: string;
  /** With `outputTailBytes`: the last bytes of stdout and stderr together (bounded). */
  outputTail?: string;
  /** Set when the process could not be started (ENOENT, EACCES...). */
  spawnError?: string;
}

interface ResolvedRunProcessOptions extends Required<
  Omit<RunProcessOptions, "stdin" | "signal" | "onLine" | "outputTailBytes" | "runAs" | "runner" | "processGroups">
> {
  stdin: string | undefined;
  runAs: { uid: number; gid: number } | undefined;
  outputTailBytes: number | undefined;
  signal: AbortSignal | undefined;
  onLine: (stream: "stdout" | "stderr", line: string) => void;
  processGroups: ProcessGroupObserver | undefined;
}

function resolveRunProcessOptions(options: RunProcessOptions): ResolvedRunProcessOptions {
  return {
    ...options,
    stdin: options.stdin,
    runAs: options.runAs,
    outputTailBytes: options.outputTailBytes,
    signal: options.signal,
    processGroups: options.processGroups,
    killGraceMs: options.killGraceMs ?? 2000,
    maxLineBytes: options.maxLineBytes ?? BOUNDS.lineBytes,
    stderrTailBytes: options.stderrTailBytes ?? BOUNDS.stderrTailBytes,
    onLine: options.onLine ?? (() => {}),
  };
}

/**
 * Runs one process to completion in its own process group (`detached: true` makes it a session
 * leader), so that a timeout or an abort kills the whole tree: an agent runs shells, test runners
 * and dev servers, and killing only the CLI would leave them running, holding the workspace and
 * the stdout pipe open. Kill is SIGTERM to the group, then SIGKILL after `killGraceMs`. When the
 * leader exits by itself, whatever it left behind in its group is terminated the same way, since
 * an agent run must not outlive its result: a member still there when the result is in (one that
 * ignored SIGTERM and holds no pipe) still gets the SIGKILL when its time comes.
 *
 * Never rejects: a process that cannot be started resolves with exit code 127 (not found) or
 * 126 (any other spawn error), as a shell would report it, and `spawnError` set. With `runner`,
 * rejects with `AgentRunnerError` when the runner cannot be reached or breaks off: the command's
 * fate is then unknown, and the caller must fail rather than read it as the command's failure.
 */
export function runProcess(options: RunProcessOptions): Promise<ProcessResult> {
  const { runner, ...local } = options;
  if (runner && !options.signal?.aborted) return runThroughRunner(runner.socketPath, local);
  const opts = resolveRunProcessOptions(local);
  const started = performance.now();
  if (opts.signal?.aborted) {
    return Promise.resolve({
      exitCode: null,
      signal: null,
      timedOut: false,
      cancelled: true,
      durationMs: 0,
      stderrTail: "",
    });
  }
  return new Promise((resolve) => {
    const stderr = new ByteTail(opts.stderrTailBytes);
    const output = opts.outputTailBytes === undefined ? undefined : new ByteTail(opts.outputTailBytes);
    let timedOut = false;
    let cancelled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: NodeJS.ErrnoException | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    /** The SIGKILL after SIGTERM is scheduled and has not been sent yet. */
    let killPending = false;
    let groupReported = false;
    let lingerTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const child: ChildProcess = spawn(opts.command, [...opts.args], {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
    });
    const observe = (event: "started" | "ended"): void => {
      if (child.pid === undefined || !opts.processGroups) return;
      try {
        opts.processGroups[event](child.pid);
      } catch {
        // The observer's failure must not leave the process unwatched (see ProcessGroupObserver).
      }
    };
    // Spawned means exec'd: the process exists (at worst a zombie not yet reaped) and leads its session.
    observe("started");
    const groupEnded = (): void => {
      if (groupReported) return;
      groupReported = true;
      observe("ended");
    };

    const stdoutLines = new LineSplitter(opts.maxLineBytes, (line) => opts.onLine("stdout", line));
    const stderrLines = new LineSplitter(opts.maxLineBytes, (line) => opts.onLine("stderr", line));
    const onStdout = (chunk: Buffer): void => {
      output?.push(chunk);
      stdoutLines.push(chunk);
    };
    const onStderr = (chunk: Buffer): void => {
      output?.push(chunk);
      stderr.push(chunk);
      stderrLines.push(chunk);
    };
    child.stdout?.on("data", onStdout);
    child.stderr?.on("data", onStderr);
    // The child may exit without reading its stdin (EPIPE); its exit status tells what happened.
    const onStdinError = (): void => {};
    child.stdin?.on("error", onStdinError);

    const signalGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const groupAlive = (): boolean => {
      if (child.pid === undefined) return false;
      try {
        process.kill(-child.pid, 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === "EPERM";
      }
    };
    const killTree = (): void => {
      if (killTimer) return;
      signalGroup("SIGTERM");
      killPending = true;
      killTimer = setTimeout(() => {
        killPending = false;
        signalGroup("SIGKILL");
        if (settled) groupEnded();
      }, opts.killGraceMs);
    };

    const timeoutTimer = setTimeout(() => {
      timedOut = true;
      killTree();
    }, opts.timeoutMs);
    const onAbort = (): void => {
      cancelled = true;
      killTree();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(lingerTimer);
      // A member left in the group keeps its SIGKILL (the timer then reports the group ended).
      if (!killPending || !groupAlive()) {
        clearTimeout(killTimer);
        groupEnded();
      }
      opts.signal?.removeEventListener("abort", onAbort);
      child.stdout?.off("data", onStdout);
      child.stderr?.off("data", onStderr);
      child.off("exit", onExit);
      child.off("close", onClose);
      child.off("error", onError);
      // onStdinError stays attached: a late EPIPE on the destroyed stdin must not be unhandled.
      child.stdin?.destroy();
      child.stdout?.destroy();
      child.stderr?.destroy();
      stdoutLines.end();
      stderrLines.end();
      let stderrTail = stderr.text();
      let exitCode = exit?.code ?? null;
      if (spawnError) {
        exitCode = spawnError.code === "ENOENT" ? 127 : 126;
        stderrTail = `failed to start ${opts.command}: ${spawnError.message}`;
      }
      resolve({
        exitCode,
        signal: exit?.signal ?? null,
        timedOut,
        cancelled,
        durationMs: Math.round(performance.now() - started),
        stderrTail,
        ...(output ? { outputTail: spawnError ? stderrTail : output.text() } : {}),
        ...(spawnError ? { spawnError: spawnError.message } : {}),
      });
    };

    const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
      exit = { code, signal: sig };
      // Whatever the leader left in its group (a backgrounded server, a stuck test runner) would
      // keep the pipes open and `close` from ever firing.
      killTree();
      // A process that left the group (setsid) can still hold a pipe: stop waiting for it.
      lingerTimer = setTimeout(finish, opts.killGraceMs + 1000);
    };
    const onClose = (code: number | null, sig: NodeJS.Signals | null): void => {
      exit ??= { code, signal: sig };
      finish();
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      // Only spawn failures reach here before `exit`; a failed kill is already ignored.
      if (exit) return;
      spawnError = err;
      finish();
    };
    child.on("exit", onExit);
    child.on("close", onClose);
    child.on("error", onError);

    if (opts.stdin !== undefined && child.stdin) {
      child.stdin.end(opts.stdin);
    }
  });
}

function runThroughRunner(socketPath: string, options: Omit<RunProcessOptions, "runner">): Promise<ProcessResult> {
  if (options.runAs) return Promise.reject(new Error("runProcess: runAs and runner exclude each other"));
  const opts = resolveRunProcessOptions(options);
  return runRemoteProcess(
    socketPath,
    {
      command: opts.command,
      args: [...opts.args],
      cwd: opts.cwd,
      env: opts.env,
      ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
      timeoutMs: opts.timeoutMs,
      killGraceMs: opts.killGraceMs,
      maxLineBytes: opts.maxLineBytes,
      stderrTailBytes: opts.stderrTailBytes,
      ...(opts.outputTailBytes !== undefined ? { outputTailBytes: opts.outputTailBytes } : {}),
    },
    { ...(opts.signal ? { signal: opts.signal } : {}), onLine: opts.onLine },
  );
}

/** The last `maxBytes` bytes of a stream, with core's truncation marker when more came. */
class ByteTail {
  private readonly maxBytes: number;
  private chunks: Buffer[] = [];
  private length = 0;
  private dropped = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    // Compact once twice the bound is buffered, so memory stays O(maxBytes).
    if (this.length > 2 * this.maxBytes) {
      const all = Buffer.concat(this.chunks, this.length);
      const keep = all.subarray(all.length - this.maxBytes);
      this.dropped += all.length - keep.length;
      this.chunks = [Buffer.from(keep)];
      this.length = keep.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks, this.length);
    if (this.dropped === 0 && all.length <= this.maxBytes) return all.toString("utf8");
    let start = Math.max(0, all.length - Math.max(0, this.maxBytes - 48));
    // Never start inside a multi-byte character (UTF-8 continuation bytes are 10xxxxxx).
    while (start < all.length && ((all[start] ?? 0) & 0xc0) === 0x80) start++;
    return `[… ${this.dropped + start} bytes truncated …]\n` + all.subarray(start).toString("utf8");
  }
}
