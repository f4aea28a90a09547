import { LOOP_STATES, type LoopState } from "@smith/core";
import type { SmithStore } from "@smith/store";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What `loops.stats` answers and the loop gauges report. */
export interface ClusterStats {
  /** Live scheduler sessions (`schedulers/<id>` keys, which vanish with their lease). */
  schedulers: number;
  /** Loops waiting in the queue. */
  queueDepth: number;
  loops: Record<LoopState, number>;
  /** When these numbers were read (they are cached a few seconds). */
  at: string;
}

/**
 * Prometheus metrics: request counts and latencies per procedure, loops by state, queue depth and schedulers.
 * The loop gauges are computed on scrape from etcd (any API replica reports the same numbers),
 * cached for a few seconds so that several scrapers do not multiply the reads.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"procedure" | "type" | "code">;
  readonly duration: Histogram<"procedure" | "type">;
  /** Open SSE subscriptions by procedure (kept by the API's SSE writer, sse.ts). */
  readonly subscriptions: Gauge<"procedure">;
  private cache: { at: number; states: Record<LoopState, number>; queue: number; schedulers: number } | undefined;
  private readonly read: () => Promise<{
    at: number;
    states: Record<LoopState, number>;
    queue: number;
    schedulers: number;
  }>;

  constructor(store: SmithStore, options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "smith_api_" });
    this.requests = new Counter({
      name: "smith_api_requests_total",
      help: "tRPC calls by procedure, type and result code",
      labelNames: ["procedure", "type", "code"],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: "smith_api_request_duration_seconds",
      help: "tRPC call latency (subscriptions: time to set up)",
      labelNames: ["procedure", "type"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.subscriptions = new Gauge({
      name: "smith_api_open_subscriptions",
      help: "SSE subscriptions open on this API process, by procedure",
      labelNames: ["procedure"],
      registers: [this.registry],
    });
    const read = (this.read = async () => {
      if (this.cache && Date.now() - this.cache.at < 5_000) return this.cache;
      const states = Object.fromEntries(LOOP_STATES.map((s) => [s, 0])) as Record<LoopState, number>;
      let cursor: string | undefined;
      do {
        const page = await store.loops.list({ cursor, limit: 500 });
        for (const l of page.items) states[l.status.state] = (states[l.status.state] ?? 0) + 1;
        cursor = page.nextCursor;
      } while (cursor);
      const queue = await store.client.getAll().prefix(store.keys.queuePrefix()).count();
      const schedulers = await store.client.getAll().prefix(store.keys.schedulersPrefix()).count();
      this.cache = { at: Date.now(), states, queue, schedulers };
      return this.cache;
    });
    new Gauge({
      name: "smith_loops",
      help: "Loops by state",
      labelNames: ["state"],
      registers: [this.registry],
      async collect() {
        const { states } = await read();
        for (const [state, n] of Object.entries(states)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: "smith_queue_depth",
      help: "Loops waiting in the queue",
      registers: [this.registry],
      async collect() {
        this.set((await read()).queue);
      },
    });
    new Gauge({
      name: "smith_schedulers",
      help: "Live scheduler sessions",
      registers: [this.registry],
      async collect() {
        this.set((await read()).schedulers);
      },
    });
  }

  /** Schedulers alive, queue depth and loops by state, from etcd, cached for 5 s. */
  async cluster(): Promise<ClusterStats> {
    const r = await this.read();
    return { schedulers: r.schedulers, queueDepth: r.queue, loops: { ...r.states }, at: new Date(r.at).toISOString() };
  }
}
