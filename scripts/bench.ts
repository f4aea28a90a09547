// `npm run bench [-- --json <path>]`: throughput and latency of the store against raw etcd,
// measured in one run against one freshly started etcd. See docs/benchmarks.md.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { type EtcdServer, startEtcd } from "@smith/testing/standalone";
import { apiSuite } from "./bench/api.ts";
import { claimsSuite } from "./bench/claims.ts";
import { clusterSuite } from "./bench/cluster.ts";
import { BENCH } from "./bench/config.ts";
import { OtherLoad } from "./bench/cpu.ts";
import { journalSuite } from "./bench/journal.ts";
import { runInterleaved } from "./bench/load.ts";
import { loopsSuite } from "./bench/loops.ts";
import { type MachineInfo, formatMachine, machineInfo } from "./bench/machine.ts";
import { rawSuite } from "./bench/raw.ts";
import { schedulerSuite } from "./bench/scheduler.ts";
import { Cleanups, createContext } from "./bench/runner.ts";
import { formatTable, ratios } from "./bench/stats.ts";
import type { BenchContext, Measurement, Suite, Workload } from "./bench/suite.ts";

/**
 * In report order, the raw baselines first. Every suite's throughput workloads run together in
 * interleaved rounds; then each suite's `run` in this order (the two latency measurements next to
 * each other, the long claim drains last).
 */
const SUITES: readonly Suite[] = [
  rawSuite,
  loopsSuite,
  journalSuite,
  apiSuite,
  claimsSuite,
  schedulerSuite,
  clusterSuite,
];

/** The row a whole run prints for an opt-in suite it left out. */
function optedOut(suite: Suite): Measurement {
  return {
    id: `${suite.name}.skipped`,
    name: `${suite.name}: skipped`,
    value: Number.NaN,
    unit: "ms",
    note: `skipped: opt-in, ${suite.optIn ?? ""}; run it with --only ${suite.name}`,
  };
}

async function runSuites(ctx: BenchContext, suites: readonly Suite[]): Promise<Measurement[]> {
  const workloads: { suite: Suite; workload: Workload }[] = [];
  for (const suite of suites) {
    for (const workload of (await suite.workloads?.(ctx)) ?? []) workloads.push({ suite, workload });
  }
  const throughput = await runInterleaved(
    ctx,
    workloads.map((w) => w.workload),
  );
  const bySuite = new Map<Suite, Measurement[]>(suites.map((s) => [s, []]));
  workloads.forEach((w, i) => {
    const m = throughput[i];
    if (m) bySuite.get(w.suite)?.push(m);
  });
  for (const suite of suites) {
    ctx.signal.throwIfAborted();
    bySuite.get(suite)?.push(...((await suite.run?.(ctx)) ?? []));
  }
  // A whole run says which opt-in suites it left out; a run with --only is what was asked for.
  const whole = SUITES.every((s) => s.optIn !== undefined || suites.includes(s));
  for (const suite of whole ? SUITES : []) {
    if (suite.optIn === undefined || suites.includes(suite)) continue;
    ctx.log(`${suite.name}: skipped (opt-in: ${suite.optIn}); run it with --only ${suite.name}`);
    bySuite.set(suite, [optedOut(suite)]);
  }
  return SUITES.flatMap((s) => bySuite.get(s) ?? []);
}

const USAGE = `usage: node scripts/bench.ts [--json <path>] [--only <suite>[,<suite>...]]

Starts a fresh etcd, measures raw etcd and the Smith store against it, prints a table and
stops etcd. --json <path> also writes the figures as JSON (e.g. bench-results.json).
--only runs the raw baselines and the named suites (${SUITES.map((s) => s.name).join(", ")}):
a quicker look at one area; record whole runs. A whole run leaves out the opt-in suites
(${SUITES.filter((s) => s.optIn !== undefined)
  .map((s) => s.name)
  .join(", ")}), which run only when --only names them.`;

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function main(): Promise<number> {
  let args: { json?: string; only?: string; help?: boolean };
  let suites: readonly Suite[] = SUITES.filter((s) => s.optIn === undefined);
  try {
    ({ values: args } = parseArgs({
      options: { json: { type: "string" }, only: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
    if (args.only !== undefined) {
      const names = args.only.split(",").map((n) => n.trim());
      const unknown = names.filter((n) => !SUITES.some((s) => s.name === n));
      if (unknown.length > 0) throw new Error(`--only: no suite named ${unknown.join(", ")}`);
      suites = SUITES.filter((s) => s === rawSuite || names.includes(s.name));
    }
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(130);
    log(`${signal}: stopping (again to quit at once)`);
    abort.abort(new Error(`interrupted by ${signal}`));
    // Operations in flight against an etcd that is going away may retry for a while.
    setTimeout(() => process.exit(130), 15_000).unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const started = performance.now();
  const cleanups = new Cleanups();
  let server: EtcdServer | undefined;
  try {
    log("starting etcd");
    server = await startEtcd({ name: "smith-bench" });
    const ctx = createContext(server.endpoint, server.pid, abort.signal, cleanups);
    const machine = await machineInfo(server.endpoint);
    const otherLoad = new OtherLoad(server.pid);
    const results = await runSuites(ctx, suites);
    const durationMs = performance.now() - started;
    const run: RunInfo = { durationMs, otherCores: otherLoad.cores() };
    report(machine, run, results);
    if (run.otherCores !== undefined && run.otherCores > 0.2) {
      log(
        `other processes kept ${run.otherCores.toFixed(2)} cores busy during the run: the figures are disturbed; run again on a quiet machine`,
      );
    }
    if (args.json !== undefined) {
      await writeFile(args.json, `${JSON.stringify(toJson(machine, run, results), null, 2)}\n`);
      log(`wrote ${args.json}`);
    }
    return 0;
  } catch (err) {
    if (abort.signal.aborted) {
      log("interrupted");
      return 130;
    }
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (server) log(`last lines of etcd's log:\n${server.logs().split("\n").slice(-20).join("\n")}`);
    return 1;
  } finally {
    await cleanups.run();
    await server?.destroy();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

interface RunInfo {
  durationMs: number;
  /** Mean cores other processes used during the run (undefined without /proc). */
  otherCores: number | undefined;
}

function report(machine: MachineInfo, run: RunInfo, results: readonly Measurement[]): void {
  const other =
    run.otherCores === undefined ? "" : `; other processes used ${run.otherCores.toFixed(2)} cores meanwhile`;
  process.stdout.write(
    [
      `Smith store benchmark — ${formatMachine(machine)}`,
      `run time ${(run.durationMs / 1000).toFixed(1)} s${other}`,
      `"vs raw" is value ÷ raw figure: for rates below 1 is slower than raw etcd, for latencies above 1 is slower`,
      "",
      formatTable(results),
      "",
    ].join("\n"),
  );
}

function toJson(machine: MachineInfo, run: RunInfo, results: readonly Measurement[]) {
  const byId = new Map(results.map((m) => [m.id, m]));
  return {
    machine,
    durationMs: Math.round(run.durationMs),
    otherCores: run.otherCores,
    config: BENCH,
    results: results.map((m) => ({ ...m, ratios: ratios(m, byId) })),
  };
}

process.exitCode = await main();
