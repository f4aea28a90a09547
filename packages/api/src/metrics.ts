import { LOOP_STATES } from "@smith/core";
import type { SmithStore } from "@smith/store";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Prometheus metrics: request counts and latencies per procedure, loops by state and queue depth.
 * The loop gauges are computed on scrape from etcd (any API replica reports the same numbers),
 * cached for a few seconds so that several scrapers do not multiply the reads.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"procedure" | "type" | "code">;
  readonly duration: Histogram<"procedure" | "type">;
  private cache: { at: number; states: Record<string, number>; queue: number } | undefined;

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
    const read = async () => {
      if (this.cache && Date.now() - this.cache.at < 5_000) return this.cache;
      const states: Record<string, number> = Object.fromEntries(LOOP_STATES.map((s) => [s, 0]));
      let cursor: string | undefined;
      do {
        const page = await store.loops.list({ cursor, limit: 500 });
        for (const l of page.items) states[l.status.state] = (states[l.status.state] ?? 0) + 1;
        cursor = page.nextCursor;
      } while (cursor);
      const queue = await store.client.getAll().prefix(store.keys.queuePrefix()).count();
      this.cache = { at: Date.now(), states, queue };
      return this.cache;
    };
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
  }
}
