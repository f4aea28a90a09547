/**
 * Sizes and counts of every benchmark, in one place so that the report and docs/benchmarks.md
 * can name them. Chosen so that a run takes about a minute on 2 cores and trials agree within a
 * few percent; raise them on bigger machines if the spread column says so.
 */
export const BENCH = {
  /** Operations in flight in the throughput benchmarks. */
  concurrency: 16,
  /** Each throughput workload runs alone this long first: connections, JIT, etcd's caches. */
  warmupMs: 500,
  trialMs: 1000,
  /** Throughput trials per workload, interleaved across workloads; the figure is their median. */
  rounds: 5,
  /** Value size of the raw puts: about a journal entry's size (see docs/benchmarks.md). */
  rawValueBytes: 320,
  scheduler: {
    /** Scheduler counts for the enqueue→claimed/started latency. */
    schedulers: [1, 3],
    /** Loops enqueued one at a time for the latency, and the rate. */
    loops: 100,
    perSecond: 20,
    idleSeconds: 10,
    drainQueued: 1000,
    /** Crashes between claim and start, one after the other, and the dying claimer's lease TTL. */
    crashes: 5,
    crashTtlSeconds: 2,
    /** SIGTERMs of a scheduler process, one after the other, and the loops its replicas run meanwhile. */
    shutdowns: 5,
    shutdownRunning: 10,
    /** The same with SIGKILL, and the killed scheduler's session (and election) TTL. */
    kills: 3,
    killTtlSeconds: 2,
  },
  claims: {
    /** Loops queued for each claim trial, each with its own concurrency key. */
    queued: 500,
    /** Claimers racing for the queue, each with its own client and session. */
    claimers: [1, 4],
    /** Claimers spread over child processes, as schedulers on separate machines. */
    multiProcess: { claimers: 8, processes: 4 },
    trials: 3,
    warmupQueued: 100,
    /** Loops each claim worker process creates and drains on a prefix of its own before the timed drain. */
    workerWarmupQueued: 300,
    /** High enough that slot limits never make a claimer skip an entry. */
    perKeyLimit: 100_000,
  },
  api: {
    /** Journal tail subscribers (SSE), each receiving every entry. */
    subscribers: 10,
    /** Entries per second a replica appends, in `batch`-entry appendJournal calls. */
    ratePerSec: 1_000,
    batch: 50,
    /**
     * 400 calls. The 50 entries of a call share its fate, so the p99 over entries is set by the
     * slowest 1% of calls: with 100 calls (5 s, runs 7-8) that was the slowest call alone, one
     * disk stall or GC pause; with 400 it is about the fourth slowest, a percentile again, as the
     * raw probe's over its thousands of independent puts.
     */
    durationMs: 20_000,
    /** The writer's time is cut into this many rounds, each followed by a raw put→watch round as long. */
    rounds: 20,
    /** Loops whose real replica takes its lock through the API, and their creation rate. */
    lockLoops: 20,
    lockPerSecond: 1,
  },
  journal: {
    /** Loops written at once: one writer per loop, as with replicas. */
    loops: 16,
    batchEntries: 50,
  },
  cluster: {
    /** Loops created one after the other on the one-node cluster, each when the previous one is synced. */
    loops: 10,
    /** How long one loop may take from create to its end before the run fails. */
    loopTimeoutMs: 300_000,
  },
  latency: {
    /** Total sends per second across the streams. */
    ratePerSec: 500,
    /** Single writers (loops, or raw key prefixes), each sending one operation at a time. */
    streams: 8,
    warmupMs: 500,
    durationMs: 4000,
    /** How long to wait for the last events before calling them lost. */
    drainTimeoutMs: 10_000,
  },
} as const;
