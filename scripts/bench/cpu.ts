import { readFileSync } from "node:fs";

/**
 * CPU time of the benchmark process and of etcd. On a small machine both compete for the same
 * cores, so a rate alone cannot say whether etcd or the client is the bottleneck; CPU time per
 * operation can.
 */
export interface CpuSnapshot {
  nodeMs: number;
  /** undefined when /proc is not readable (not Linux). */
  etcdMs: number | undefined;
}

export interface CpuPerOp {
  nodeMs: number;
  etcdMs: number | undefined;
}

// /proc/<pid>/stat counts in clock ticks; USER_HZ is 100 on every Linux architecture Node supports.
const TICK_MS = 10;

/** CPU time (user + system) a process has used so far, from /proc; undefined where unreadable. */
export function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces; the fields after its closing paren do not.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * TICK_MS : undefined;
  } catch {
    return undefined;
  }
}

export function cpuSnapshot(etcdPid: number): CpuSnapshot {
  const usage = process.cpuUsage();
  return { nodeMs: (usage.user + usage.system) / 1000, etcdMs: procCpuMs(etcdPid) };
}

export function cpuPerOp(before: CpuSnapshot, etcdPid: number, ops: number): CpuPerOp {
  const after = cpuSnapshot(etcdPid);
  const n = Math.max(ops, 1);
  return {
    nodeMs: (after.nodeMs - before.nodeMs) / n,
    etcdMs: after.etcdMs === undefined || before.etcdMs === undefined ? undefined : (after.etcdMs - before.etcdMs) / n,
  };
}

export function formatCpu(cpu: CpuPerOp, per = "op"): string {
  const etcd = cpu.etcdMs === undefined ? "" : `, etcd ${cpu.etcdMs.toFixed(3)}`;
  return `cpu ms/${per}: node ${cpu.nodeMs.toFixed(3)}${etcd}`;
}

/** The mean of several trials' CPU per operation. */
export function meanCpu(list: readonly CpuPerOp[]): CpuPerOp {
  const n = Math.max(list.length, 1);
  const etcd = list.map((c) => c.etcdMs);
  return {
    nodeMs: list.reduce((sum, c) => sum + c.nodeMs, 0) / n,
    etcdMs: etcd.every((ms) => ms !== undefined) ? etcd.reduce((sum: number, ms) => sum + (ms ?? 0), 0) / n : undefined,
  };
}

/** CPU time spent by the whole machine (every core, every process), from /proc/stat. */
function machineBusyMs(): number | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const [, ...ticks] = line.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal ...: busy is everything but idle and iowait.
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    return Number.isFinite(total) ? (total - idle) * TICK_MS : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How many cores other processes kept busy since `before`: the benchmark shares the machine with
 * them, so a high figure means the run was disturbed and its figures are noisy.
 */
export class OtherLoad {
  private readonly start = performance.now();
  private readonly machine = machineBusyMs();
  private readonly own: CpuSnapshot;
  private readonly etcdPid: number;

  constructor(etcdPid: number) {
    this.etcdPid = etcdPid;
    this.own = cpuSnapshot(etcdPid);
  }

  /** Mean cores used by other processes so far, or undefined without /proc. */
  cores(): number | undefined {
    const machine = machineBusyMs();
    const own = cpuSnapshot(this.etcdPid);
    if (
      machine === undefined ||
      this.machine === undefined ||
      own.etcdMs === undefined ||
      this.own.etcdMs === undefined
    )
      return undefined;
    const ours = own.nodeMs - this.own.nodeMs + (own.etcdMs - this.own.etcdMs);
    return Math.max(0, machine - this.machine - ours) / (performance.now() - this.start);
  }
}
