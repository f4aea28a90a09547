import type { SmithStore } from "@smith/store";

/** One figure of the benchmark report. */
export interface Measurement {
  /** Stable machine name, e.g. `raw.put`; other figures name it in `vs`. */
  id: string;
  /** Human label for the table. */
  name: string;
  value: number;
  unit: "ops/s" | "entries/s" | "claims/s" | "ms" | "ratio";
  /**
   * Ids of the raw figures this one is compared with, as `value / baseline`. For rates below 1
   * means slower than raw etcd; for latencies above 1 means slower.
   */
  vs?: string[];
  /** How it was measured (sample size, spread, CPU per op). */
  note?: string;
}

/**
 * A throughput benchmark: `op` is called from `concurrency` workers, each starting its next call
 * when the previous one returns. The runner interleaves the trials of every suite's workloads, so
 * that a busy moment of the machine does not skew one figure against another.
 */
export interface Workload {
  id: string;
  name: string;
  unit: "ops/s" | "entries/s";
  vs?: string[];
  concurrency: number;
  /** Units one call counts for (entries in a batched append). Default 1. */
  unitsPerOp?: number;
  /** What a unit is called in the CPU figure ("op", "append", "entry"). Default "op". */
  unitName?: string;
  /** Sizes and layout, for the report. */
  describe?: string;
  /** `worker` is 0..concurrency-1, `seq` a counter unique across the whole run. */
  op(worker: number, seq: number): Promise<void>;
}

/** What every suite gets from the runner. */
export interface BenchContext {
  /** Client URL of the etcd started for this run. */
  readonly endpoint: string;
  /** Process id of that etcd, for its CPU time. */
  readonly etcdPid: number;
  /** Aborted on SIGINT/SIGTERM: long phases stop early. */
  readonly signal: AbortSignal;
  /** A fresh key prefix, so that no phase sees another's keys. */
  prefix(name: string): string;
  /** A store with its own etcd client under `prefix`, closed by the runner at the end. */
  store(prefix: string): SmithStore;
  /** Registers a clean-up step; they run in reverse order at the end, also on failure. */
  defer(cleanup: () => unknown): void;
  /** A progress line on stderr (the table goes to stdout). */
  log(message: string): void;
}

/**
 * An area of the benchmark (raw etcd, loops, claims, journal...). The runner first sets up every
 * suite's workloads and runs them in interleaved rounds, then calls each suite's `run` (drains,
 * latency) in list order. The report lists each suite's figures together, in list order.
 */
export interface Suite {
  name: string;
  /**
   * Set on a suite that a whole run leaves out, saying why (it takes minutes, or a cluster): it
   * runs only when named in `--only`, and a whole run prints a "skipped" row for it instead.
   */
  optIn?: string;
  workloads?(ctx: BenchContext): Promise<Workload[]>;
  run?(ctx: BenchContext): Promise<Measurement[]>;
}

/** Thrown when a benchmark's own correctness check fails: its numbers would be meaningless. */
export class BenchCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BenchCheckError";
  }
}
