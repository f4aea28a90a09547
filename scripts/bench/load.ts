import { setTimeout as sleep } from "node:timers/promises";
import { BENCH } from "./config.ts";
import { cpuSnapshot, formatCpu } from "./cpu.ts";
import { median, spreadPercent } from "./stats.ts";
import type { BenchContext, Measurement, Workload } from "./suite.ts";

interface Tally {
  rates: number[];
  units: number;
  nodeMs: number;
  etcdMs: number | undefined;
}

/**
 * Runs every workload for a warm-up, then BENCH.rounds rounds in which each workload runs one
 * trial of BENCH.trialMs. The figure is the median of a workload's trials.
 */
export async function runInterleaved(ctx: BenchContext, workloads: readonly Workload[]): Promise<Measurement[]> {
  const { warmupMs, trialMs, rounds } = BENCH;
  let seq = 0;
  const phase = async (w: Workload, ms: number): Promise<{ ops: number; elapsedMs: number }> => {
    const end = performance.now() + ms;
    let ops = 0;
    const worker = async (n: number) => {
      while (performance.now() < end && !ctx.signal.aborted) {
        await w.op(n, seq++);
        ops++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: w.concurrency }, (_, n) => worker(n)));
    ctx.signal.throwIfAborted();
    // Calls still in flight at the deadline are counted, so the elapsed time includes them.
    return { ops, elapsedMs: performance.now() - start };
  };

  for (const w of workloads) {
    ctx.log(`warm-up: ${w.name}`);
    await phase(w, warmupMs);
  }
  const tallies = new Map<Workload, Tally>(workloads.map((w) => [w, { rates: [], units: 0, nodeMs: 0, etcdMs: 0 }]));
  for (let r = 0; r < rounds; r++) {
    ctx.log(`throughput round ${r + 1} of ${rounds}`);
    for (const w of workloads) {
      const tally = tallies.get(w);
      if (!tally) continue;
      const units = w.unitsPerOp ?? 1;
      const before = cpuSnapshot(ctx.etcdPid);
      const { ops, elapsedMs } = await phase(w, trialMs);
      const after = cpuSnapshot(ctx.etcdPid);
      tally.rates.push((ops * units * 1000) / elapsedMs);
      tally.units += ops * units;
      tally.nodeMs += after.nodeMs - before.nodeMs;
      tally.etcdMs =
        tally.etcdMs === undefined || after.etcdMs === undefined || before.etcdMs === undefined
          ? undefined
          : tally.etcdMs + after.etcdMs - before.etcdMs;
    }
  }

  return workloads.map((w) => {
    const t = tallies.get(w) ?? { rates: [], units: 0, nodeMs: 0, etcdMs: undefined };
    const n = Math.max(t.units, 1);
    const cpu = formatCpu(
      { nodeMs: t.nodeMs / n, etcdMs: t.etcdMs === undefined ? undefined : t.etcdMs / n },
      w.unitName,
    );
    const how = `${w.concurrency} in flight, median of ${t.rates.length}×${trialMs / 1000}s (±${spreadPercent(t.rates).toFixed(0)}%)`;
    return {
      id: w.id,
      name: w.name,
      value: median(t.rates),
      unit: w.unit,
      ...(w.vs ? { vs: w.vs } : {}),
      note: [how, w.describe, cpu].filter(Boolean).join("; "),
    };
  });
}

export interface PacedOptions {
  /** Independent senders; each sends one operation at a time, as a single writer would. */
  streams: number;
  /** Total operations per second across the streams. */
  ratePerSec: number;
  durationMs: number;
  signal: AbortSignal;
}

export interface PacedResult {
  sent: number;
  /** The rate achieved: lower than asked when operations took longer than their interval. */
  ratePerSec: number;
}

/**
 * Sends at a steady rate: stream `s` sends its i-th operation at start + (i + s/streams) ×
 * interval, or at once when the previous one returned late.
 */
export async function paced(
  options: PacedOptions,
  send: (stream: number, seq: number) => Promise<void>,
): Promise<PacedResult> {
  const interval = (options.streams * 1000) / options.ratePerSec;
  const start = performance.now();
  const end = start + options.durationMs;
  let sent = 0;
  const stream = async (s: number) => {
    for (let i = 0; ; i++) {
      const due = start + (i + s / options.streams) * interval;
      if (due >= end || options.signal.aborted) return;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      await send(s, i);
      sent++;
    }
  };
  await Promise.all(Array.from({ length: options.streams }, (_, s) => stream(s)));
  options.signal.throwIfAborted();
  return { sent, ratePerSec: (sent * 1000) / (performance.now() - start) };
}

/** Calls `fn(0..count-1)` with at most `concurrency` calls in flight (set-up, not measured). */
export async function forEachConcurrently(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) await fn(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}
