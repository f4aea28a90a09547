import { copyFile, lstat, mkdir, readFile, readdir, rm, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, relative, sep } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import type { AgentAdapter, AgentResult, AgentRunOptions } from "@smith/core";
import { eventEmitter } from "./agentCli.ts";
import { isObject } from "./json.ts";

export interface ReplayAdapterOptions {
  /** The directory of recordings, absolute: `<dir>/<storyId>/...`. */
  dir: string;
  /** A pause after each change, so that a demo shows the agent working. Default 0. */
  stepDelayMs?: number;
}

/** A story id is a directory name in the recording: no separators, no `..`. */
const STORY_DIR = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

interface Recording {
  /** Relative paths under the workspace, from `files/`. */
  writes: string[];
  /** Relative paths under the workspace, from `delete.txt`. */
  deletes: string[];
  usage?: { inputTokens: number; outputTokens: number; usd?: number };
  summary?: string;
}

class RecordingError extends Error {}

/**
 * A deterministic agent that applies recorded changes, for demos and tests. A recording for a
 * story is a directory `<dir>/<storyId>/` holding:
 * - `files/**`: copied over the workspace (directories created as needed);
 * - `delete.txt` (optional): workspace paths to delete, one per line (`#` comments allowed);
 * - `usage.json` (optional): `{ "inputTokens": n, "outputTokens": n, "usd": n }`, reported as usage;
 * - `summary.txt` (optional): the agent's final message.
 * Deletions are applied before writes. Every path must stay inside the workspace: absolute paths,
 * `..`, symlinks in the recording and writes through symlinks in the workspace are refused,
 * before anything is changed.
 */
export class ReplayAdapter implements AgentAdapter {
  readonly provider = "replay" as const;
  private readonly dir: string;
  private readonly stepDelayMs: number;

  constructor(options: ReplayAdapterOptions) {
    this.dir = options.dir;
    this.stepDelayMs = options.stepDelayMs ?? 0;
  }

  async run(options: AgentRunOptions): Promise<AgentResult> {
    const started = performance.now();
    const emit = eventEmitter(options.onEvent);
    const stop = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop.abort();
    }, options.timeoutMs);
    const onAbort = (): void => stop.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) stop.abort();

    const result = (fields: Partial<AgentResult> & Pick<AgentResult, "exitCode" | "isError">): AgentResult => ({
      timedOut,
      cancelled: !timedOut && (options.signal?.aborted ?? false),
      durationMs: Math.round(performance.now() - started),
      inputTokens: 0,
      outputTokens: 0,
      stderrTail: "",
      ...fields,
    });

    try {
      const { storyId } = options;
      let recording: Recording | undefined;
      try {
        recording = await this.load(storyId, options.cwd);
      } catch (err) {
        if (!(err instanceof RecordingError)) throw err;
        return result({ exitCode: 1, isError: true, summary: err.message });
      }
      if (!recording) {
        return result({ exitCode: 1, isError: true, summary: `no recording for ${storyId} in ${this.dir}` });
      }

      const total = recording.deletes.length + recording.writes.length;
      if (stop.signal.aborted) {
        return result({
          exitCode: null,
          isError: true,
          summary: `replay of ${storyId} ${timedOut ? "timed out" : "cancelled"} before it started`,
        });
      }
      emit({ type: "text", text: `replaying ${total} changes for ${storyId}` });
      let applied = 0;
      const steps: Array<{ tool: "delete" | "write"; path: string }> = [
        ...recording.deletes.map((path) => ({ tool: "delete" as const, path })),
        ...recording.writes.map((path) => ({ tool: "write" as const, path })),
      ];
      for (const step of steps) {
        if (stop.signal.aborted) break;
        const target = join(options.cwd, step.path);
        if (step.tool === "delete") {
          await rm(target, { recursive: true, force: true });
        } else {
          await mkdir(dirname(target), { recursive: true });
          await copyFile(join(this.dir, storyId, "files", step.path), target);
        }
        applied++;
        emit({ type: "tool_use", tool: step.tool, input: step.path });
        // Aborting ends the pause at once (the rejection is the abort, checked below).
        if (this.stepDelayMs > 0)
          await delay(this.stepDelayMs, undefined, { signal: stop.signal }).catch(() => undefined);
      }
      if (stop.signal.aborted) {
        const why = timedOut ? "timed out" : "cancelled";
        return result({
          exitCode: null,
          isError: true,
          summary: `replay of ${storyId} ${why} after ${applied} of ${total} changes`,
        });
      }

      if (recording.usage) emit({ type: "usage", ...recording.usage });
      return result({
        exitCode: 0,
        isError: false,
        inputTokens: recording.usage?.inputTokens ?? 0,
        outputTokens: recording.usage?.outputTokens ?? 0,
        ...(recording.usage?.usd !== undefined ? { usd: recording.usage.usd } : {}),
        summary: recording.summary ?? `replayed ${total} changes for ${storyId}`,
      });
    } catch (err) {
      return result({
        exitCode: 1,
        isError: true,
        summary: `replay failed: ${err instanceof Error ? err.message : String(err)}`,
      });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Reads and checks a story's recording; undefined when there is none. */
  private async load(storyId: string, cwd: string): Promise<Recording | undefined> {
    if (!STORY_DIR.test(storyId) || storyId.includes("..")) {
      throw new RecordingError(`refusing story id ${JSON.stringify(storyId)}: not a plain directory name`);
    }
    const storyDir = join(this.dir, storyId);
    const info = await stat(storyDir).catch(() => undefined);
    if (!info?.isDirectory()) return undefined;

    const writes = await listFiles(join(storyDir, "files"));
    const deleteList = await readOptional(join(storyDir, "delete.txt"));
    const deletes = (deleteList ?? "")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    for (const path of deletes) checkRelative(path);
    for (const path of writes) checkRelative(path);
    // Check every path before changing anything, so a bad recording leaves the workspace as it was.
    for (const path of deletes) await checkNoSymlink(cwd, path, false);
    for (const path of writes) await checkNoSymlink(cwd, path, true);

    const usageText = await readOptional(join(storyDir, "usage.json"));
    const summary = await readOptional(join(storyDir, "summary.txt"));
    return {
      writes,
      deletes: deletes.map((path) => normalize(path)),
      ...(usageText !== undefined ? { usage: parseUsage(usageText) } : {}),
      ...(summary !== undefined && summary.trim() !== "" ? { summary: summary.trim() } : {}),
    };
  }
}

/** Refuses paths that could leave the workspace: absolute, `..`, or the workspace itself. */
function checkRelative(path: string): void {
  const normalized = normalize(path);
  if (
    isAbsolute(path) ||
    normalized === "." ||
    normalized.split(sep).includes("..") ||
    path.split(/[\\/]/).includes("..")
  ) {
    throw new RecordingError(`refusing path outside the workspace: ${path}`);
  }
}

/**
 * Refuses a path that goes through a symlink in the workspace (a link to /etc would carry a
 * write out of it). `includeLast`: the last component too, since a write follows it; a delete
 * removes a link itself, so only its parents matter.
 */
async function checkNoSymlink(cwd: string, path: string, includeLast: boolean): Promise<void> {
  const parts = normalize(path).split(sep);
  const checked = includeLast ? parts : parts.slice(0, -1);
  let current = cwd;
  for (const part of checked) {
    current = join(current, part);
    const info = await lstat(current).catch(() => undefined);
    if (!info) return; // Missing: nothing below it exists yet either.
    if (info.isSymbolicLink())
      throw new RecordingError(`refusing to write through the symlink ${relative(cwd, current)}`);
  }
}

/** Regular files under `root`, as sorted relative paths; a symlink or special file is refused. */
async function listFiles(root: string): Promise<string[]> {
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) return [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory()) continue;
    const path = relative(root, join(entry.parentPath, entry.name));
    if (!entry.isFile()) throw new RecordingError(`refusing ${path} in the recording: not a regular file`);
    files.push(path);
  }
  return files.sort();
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (isObject(err) && err.code === "ENOENT") return undefined;
    throw err;
  }
}

function parseUsage(text: string): NonNullable<Recording["usage"]> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RecordingError("usage.json is not JSON");
  }
  const tokens = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
  if (!isObject(value) || !tokens(value.inputTokens) || !tokens(value.outputTokens)) {
    throw new RecordingError(
      "usage.json must be { inputTokens, outputTokens, usd? } with whole, non-negative token counts",
    );
  }
  const usd = value.usd;
  if (usd !== undefined && !(typeof usd === "number" && Number.isFinite(usd) && usd >= 0)) {
    throw new RecordingError("usage.json: usd must be a non-negative number");
  }
  return {
    inputTokens: value.inputTokens,
    outputTokens: value.outputTokens,
    ...(typeof usd === "number" ? { usd } : {}),
  };
}
