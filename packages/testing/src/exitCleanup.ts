import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

/**
 * Safety net so that servers spawned by tests never outlive the test process, even when a
 * test forgets to stop them or the worker exits early. Normal teardown cleans up itself;
 * this only catches what is left over. Everything here is synchronous because an 'exit'
 * listener cannot await.
 */
const children = new Set<ChildProcess>();
const hooks = new Set<() => void>();
// etcd preallocates 64 MiB WAL files: a leaked data dir costs ~120 MiB of (often tmpfs) disk.
const paths = new Set<string>();
let installed = false;

function cleanUp(): void {
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // One failing hook must not keep the others (and the kills below) from running.
    }
  }
  hooks.clear();
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
  for (const path of paths) rmSync(path, { recursive: true, force: true });
  paths.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanUp();
  // Listening for a signal replaces Node's default "terminate" action. If nobody else (e.g.
  // the test runner) handles it, re-raise it so the process still dies as the sender meant.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", cleanUp);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, onSignal);
}

/** SIGKILLs `child` if it is still running when this process exits. */
export function killOnExit(child: ChildProcess): void {
  install();
  children.add(child);
  child.once("exit", () => children.delete(child));
}

/** Removes `path` when this process exits, unless the returned function is called first. */
export function removeOnExit(path: string): () => void {
  install();
  paths.add(path);
  return () => {
    paths.delete(path);
  };
}

/**
 * Runs `hook` (synchronous) when this process exits or is ended by SIGINT, SIGTERM or SIGHUP,
 * unless the returned function is called first: for what a test's teardown would have cleaned
 * up had it run (a test or hook timeout, a worker ended early).
 */
export function runOnExit(hook: () => void): () => void {
  install();
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}
