import type { ProcessGroupObserver } from "@smith/core";
import { mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Records the process groups that `runProcess` starts (a ProcessGroupObserver) as one file per
 * group in a directory: `<dir>/<pid>` holds the leader's start time (field 22 of /proc/<pid>/stat).
 * The groups are sessions of their own, out of reach of a signal to the recording process's group:
 * when that process dies abruptly (SIGKILL, the OOM killer), another one ends them with
 * `endRecordedGroups(dir)`, which the start time keeps from signalling a process that only reuses
 * a recorded pid. Linux only (/proc).
 */
export class ProcessGroupRecords implements ProcessGroupObserver {
  readonly dir: string;
  private readonly onError: (err: unknown) => void;

  /** `dir` is made (mode 0700) if missing. `onError`: a record that could not be written or removed. */
  constructor(dir: string, onError: (err: unknown) => void = () => {}) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.dir = dir;
    this.onError = onError;
  }

  started(pid: number): void {
    try {
      const stat = processStat(pid);
      if (!stat) throw new Error(`process ${pid} has no /proc/${pid}/stat to record`);
      // Again each time: endRecordedGroups removes the directory with its last record.
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(this.dir, String(pid)), stat.startTicks, { mode: 0o600 });
    } catch (err) {
      this.onError(err);
    }
  }

  ended(pid: number): void {
    try {
      rmSync(join(this.dir, String(pid)), { force: true });
    } catch (err) {
      this.onError(err);
    }
  }
}

/**
 * SIGKILL to each process group recorded in `dir` whose leader is still the recorded process (same
 * pid, same start time, still leading its group); then the records and `dir` are removed. A record
 * whose leader is gone is dropped without a signal: the group may hold members still, but its
 * number can no longer be told apart from a reused one. Cheap when `dir` does not exist (one
 * failed readdir), and idempotent. Returns the pids of the groups signalled.
 */
export function endRecordedGroups(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const killed: number[] = [];
  // Only records: anything else in the directory is nobody's to remove here (and keeps it).
  for (const name of names.filter((n) => /^[1-9]\d{0,9}$/.test(n))) {
    const file = join(dir, name);
    const pid = Number(name);
    let recorded = "";
    try {
      recorded = readFileSync(file, "utf8").trim();
    } catch {
      // Removed meanwhile (the group's run ended).
    }
    const stat = processStat(pid);
    // pid 1 and this process are never a recorded command's: a record naming them is not trusted.
    if (
      pid > 1 &&
      pid !== process.pid &&
      /^\d+$/.test(recorded) &&
      stat?.startTicks === recorded &&
      stat.pgrp === pid &&
      signalGroup(pid, "SIGKILL")
    )
      killed.push(pid);
    rmSync(file, { force: true });
  }
  try {
    rmdirSync(dir);
  } catch {
    // Not empty: a record written meanwhile by a live recorder (its own, not ours to drop), or a stray file.
  }
  return killed;
}

interface ProcessStat {
  pgrp: number;
  /** Field 22: the start time in clock ticks since boot, which a reused pid does not share. */
  startTicks: string;
}

function processStat(pid: number): ProcessStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const pgrp = fields[2];
  const startTicks = fields[19];
  if (pgrp === undefined || startTicks === undefined) return undefined;
  return { pgrp: Number(pgrp), startTicks };
}

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // Gone meanwhile, or not ours to signal.
    return false;
  }
}
