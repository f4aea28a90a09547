import type { Session, SmithStore } from "@smith/store";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { loopRequest } from "@smith/store/testSupport";
import { BENCH } from "./config.ts";
import { type CpuPerOp, cpuPerOp, cpuSnapshot, formatCpu, meanCpu } from "./cpu.ts";
import { forEachConcurrently } from "./load.ts";
import { median, spreadPercent } from "./stats.ts";
import { BenchCheckError, type BenchContext, type Measurement, type Suite } from "./suite.ts";

const WORKER = fileURLToPath(new URL("./claimWorker.ts", import.meta.url));

interface ClaimTrial {
  /** Claims per second, from the first claim call to the queue being empty. */
  rate: number;
  /** Claim txns that lost a race, per successful claim. */
  conflictsPerClaim: number;
  cpu: CpuPerOp;
}

/**
 * Draining a queue with `claims.claimNext`: 1 claimer, and 4 racing claimers, each with its own
 * SmithStore (own etcd client) and session lease. They all run in this one Node process, so they
 * share its single thread, unlike schedulers on separate machines.
 */
export const claimsSuite: Suite = {
  name: "claims",

  async run(ctx: BenchContext): Promise<Measurement[]> {
    ctx.log("claims warm-up");
    await claimTrial(ctx, 1, BENCH.claims.warmupQueued);
    // Trials alternate between the claimer counts, so that a busy moment hits both alike.
    const trials = new Map<number, ClaimTrial[]>(BENCH.claims.claimers.map((n) => [n, []]));
    for (let t = 0; t < BENCH.claims.trials; t++) {
      for (const claimers of BENCH.claims.claimers) {
        ctx.log(`claims, ${claimers} claimer(s), trial ${t + 1} of ${BENCH.claims.trials}`);
        trials.get(claimers)?.push(await claimTrial(ctx, claimers, BENCH.claims.queued));
      }
    }
    // Schedulers on separate machines do not share one Node thread: the same drain by claimers
    // spread over processes (the etcd client CPU of each process is its own).
    const multi: ClaimTrial[] = [];
    const { claimers: mpClaimers, processes } = BENCH.claims.multiProcess;
    for (let t = 0; t < BENCH.claims.trials; t++) {
      ctx.log(`claims, ${mpClaimers} claimers in ${processes} processes, trial ${t + 1} of ${BENCH.claims.trials}`);
      multi.push(await multiProcessTrial(ctx, mpClaimers, processes, BENCH.claims.queued));
    }
    const out: Measurement[] = [];
    for (const [claimers, list] of trials) {
      const rates = list.map((t) => t.rate);
      const label = claimers === 1 ? "1 claimer" : `${claimers} claimers`;
      out.push(
        {
          id: `claims.${claimers}`,
          name: `claims, ${label}`,
          value: median(rates),
          unit: "claims/s",
          vs: ["raw.txn", "raw.txn.serial"],
          note:
            `${BENCH.claims.queued} queued loops, distinct concurrency keys, median of ${rates.length} (±${spreadPercent(rates).toFixed(0)}%); ` +
            formatCpu(meanCpu(list.map((t) => t.cpu)), "claim"),
        },
        {
          id: `claims.${claimers}.conflicts`,
          name: `  failed/successful claims, ${label}`,
          value: median(list.map((t) => t.conflictsPerClaim)),
          unit: "ratio",
          note: "lost claim txns (claims.stats.conflicts) per successful claim, median of trials",
        },
      );
    }
    const rates = multi.map((t) => t.rate);
    out.push(
      {
        id: `claims.${mpClaimers}x${processes}`,
        name: `claims, ${mpClaimers} claimers in ${processes} processes`,
        value: median(rates),
        unit: "claims/s",
        vs: ["raw.txn", "raw.txn.serial"],
        note: `${BENCH.claims.queued} queued loops, distinct concurrency keys, median of ${rates.length} (±${spreadPercent(rates).toFixed(0)}%); etcd cpu ms/claim ${meanCpu(multi.map((t) => t.cpu)).etcdMs?.toFixed(3) ?? "n/a"} (the worker processes' own CPU is not counted)`,
      },
      {
        id: `claims.${mpClaimers}x${processes}.conflicts`,
        name: `  failed/successful claims, ${mpClaimers} claimers in ${processes} processes`,
        value: median(multi.map((t) => t.conflictsPerClaim)),
        unit: "ratio",
        note: "lost claim txns per successful claim, median of trials",
      },
    );
    return out;
  },
};

async function multiProcessTrial(
  ctx: BenchContext,
  claimers: number,
  processes: number,
  queued: number,
): Promise<ClaimTrial> {
  const prefix = ctx.prefix(`claims-${claimers}x${processes}`);
  const creator = ctx.store(prefix);
  await forEachConcurrently(queued, BENCH.concurrency, (i) =>
    creator.loops.create(loopRequest({ concurrencyKey: `bench-${i}` })),
  );
  const workers = Array.from({ length: processes }, () => {
    const child = spawn(
      process.execPath,
      [
        WORKER,
        ctx.endpoint,
        prefix,
        String(claimers / processes),
        String(BENCH.claims.perKeyLimit),
        String(BENCH.claims.workerWarmupQueued),
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    ctx.defer(() => void child.kill("SIGKILL"));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    return { child, lines };
  });
  for (const w of workers) {
    const first = await w.lines.next();
    if (first.value !== "ready") throw new BenchCheckError(`a claim worker did not start: ${String(first.value)}`);
  }
  const before = cpuSnapshot(ctx.etcdPid);
  const start = performance.now();
  for (const w of workers) w.child.stdin.write("go\n");
  const results = await Promise.all(
    workers.map(async (w) => {
      const line = await w.lines.next();
      return JSON.parse(String(line.value)) as { ids: string[]; conflicts: number };
    }),
  );
  const elapsedMs = performance.now() - start;
  const cpu = cpuPerOp(before, ctx.etcdPid, queued);
  const ids = results.flatMap((r) => r.ids);
  if (ids.length !== queued || new Set(ids).size !== queued) {
    throw new BenchCheckError(
      `${claimers} claimers in ${processes} processes claimed ${ids.length} loops (${new Set(ids).size} distinct) of ${queued} queued`,
    );
  }
  const conflicts = results.reduce((n, r) => n + r.conflicts, 0);
  creator.close();
  return { rate: (queued * 1000) / elapsedMs, conflictsPerClaim: conflicts / queued, cpu };
}

async function claimTrial(ctx: BenchContext, claimers: number, queued: number): Promise<ClaimTrial> {
  const prefix = ctx.prefix(`claims-${claimers}`);
  const creator = ctx.store(prefix);
  // Distinct keys: a claim never waits for a slot, so the figure is the claim path itself.
  await forEachConcurrently(queued, BENCH.concurrency, (i) =>
    creator.loops.create(loopRequest({ concurrencyKey: `bench-${i}` })),
  );
  const stores = Array.from({ length: claimers }, () => ctx.store(prefix));
  const sessions = await Promise.all(stores.map((s) => s.openSession({ ttlSeconds: 30 })));
  ctx.defer(() => Promise.all(sessions.map((s) => s.close())));

  const before = cpuSnapshot(ctx.etcdPid);
  const start = performance.now();
  const claimed = await Promise.all(stores.map((s, i) => drain(ctx, s, sessions[i])));
  const elapsedMs = performance.now() - start;
  const cpu = cpuPerOp(before, ctx.etcdPid, queued);

  const ids = claimed.flat();
  if (ids.length !== queued || new Set(ids).size !== queued) {
    throw new BenchCheckError(
      `${claimers} claimers claimed ${ids.length} loops (${new Set(ids).size} distinct) of ${queued} queued`,
    );
  }
  const conflicts = stores.reduce((n, s) => n + s.claims.stats.conflicts, 0);
  // Revoking the leases deletes the claims; the loops stay `running` under this trial's prefix.
  await Promise.all(sessions.map((s) => s.close()));
  for (const s of [creator, ...stores]) s.close();
  return { rate: (queued * 1000) / elapsedMs, conflictsPerClaim: conflicts / queued, cpu };
}

async function drain(ctx: BenchContext, store: SmithStore, session: Session | undefined): Promise<string[]> {
  if (!session) throw new BenchCheckError("a claimer has no session");
  const ids: string[] = [];
  // As a scheduler claims: one claimer that reads ahead, spread over the head's first entries.
  const claimer = store.claims.claimer(session, { perKeyLimit: BENCH.claims.perKeyLimit, spread: 32, readAhead: 8 });
  for (;;) {
    ctx.signal.throwIfAborted();
    const claimed = await claimer.next();
    if (!claimed) return ids;
    ids.push(claimed.loop.id);
  }
}
