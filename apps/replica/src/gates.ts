import { tailText } from "@smith/core";
import { spawn } from "node:child_process";

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

/** Runs one quality gate through the shell, in its own process group so that a timeout kills everything it started. */
export function runGate(
  command: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs: number; signal?: AbortSignal },
): Promise<GateResult> {
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", command], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.length > 64 * 1024) output = output.slice(-32 * 1024);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    let timedOut = false;
    let cancelled = false;
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const onAbort = () => {
      cancelled = true;
      kill();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("close", (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      resolve({
        command,
        exitCode: code,
        timedOut,
        cancelled,
        durationMs: Math.round(performance.now() - start),
        outputTail: tailText(output),
        passed: code === 0 && !timedOut && !cancelled,
      });
    });
    child.on("error", (err) => {
      output += String(err);
    });
  });
}
