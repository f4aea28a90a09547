import { BENCH } from "./config.ts";
import { paced } from "./load.ts";
import { percentile } from "./stats.ts";
import { BenchCheckError } from "./suite.ts";

/**
 * Send-to-receive latency by key: the sender marks a key just before it sends, the consumer marks
 * it when the event arrives. Keys sent during the warm-up are matched but not sampled.
 */
export class LatencyProbe {
  private readonly pending = new Map<string, { at: number; measured: boolean }>();
  private readonly samples: number[] = [];
  private readonly calls: number[] = [];
  private measuring = false;
  private onDrained: (() => void) | undefined;

  startMeasuring(): void {
    this.measuring = true;
  }

  /** Marks `key` as sent now; call the returned function when the send call returns. */
  sent(key: string): () => void {
    const at = performance.now();
    const measured = this.measuring;
    this.pending.set(key, { at, measured });
    return () => {
      if (measured) this.calls.push(performance.now() - at);
    };
  }

  received(key: string): void {
    const at = performance.now();
    const sent = this.pending.get(key);
    if (!sent) return;
    this.pending.delete(key);
    if (sent.measured) this.samples.push(at - sent.at);
    if (this.pending.size === 0) this.onDrained?.();
  }

  /** Resolves once every sent key was received; fails after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.onDrained = resolve;
        timer = setTimeout(
          () => reject(new BenchCheckError(`${this.pending.size} sent events never arrived within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
    } finally {
      clearTimeout(timer);
      this.onDrained = undefined;
    }
  }

  get count(): number {
    return this.samples.length;
  }

  percentile(p: number): number {
    return percentile(this.samples, p);
  }

  /** Percentile of the send calls' own duration (until the write was acknowledged). */
  callPercentile(p: number): number {
    return percentile(this.calls, p);
  }
}

export interface LatencyResult {
  p50: number;
  p99: number;
  /** The send call's own median duration: the part of the latency before the watch. */
  callP50: number;
  samples: number;
  /** The send rate achieved during the measured phase. */
  ratePerSec: number;
}

/**
 * Drives `send` at BENCH.latency's rate: a warm-up, then the measured phase, then waits for every
 * event to arrive. `send` must call `probe.sent(key)` just before it sends, and the function that
 * returns once the send call has returned.
 */
export async function measureLatency(
  signal: AbortSignal,
  probe: LatencyProbe,
  send: (stream: number, seq: number) => Promise<void>,
): Promise<LatencyResult> {
  const { ratePerSec, streams, warmupMs, durationMs, drainTimeoutMs } = BENCH.latency;
  const warm = await paced({ streams, ratePerSec, durationMs: warmupMs, signal }, send);
  await probe.drained(drainTimeoutMs);
  probe.startMeasuring();
  // No stream sent more than warm.sent operations: numbering from there keeps keys unique.
  const offset = warm.sent;
  const run = await paced({ streams, ratePerSec, durationMs, signal }, (s, i) => send(s, offset + i));
  await probe.drained(drainTimeoutMs);
  return {
    p50: probe.percentile(50),
    p99: probe.percentile(99),
    callP50: probe.callPercentile(50),
    samples: probe.count,
    ratePerSec: run.ratePerSec,
  };
}

export function describeLatency(r: LatencyResult): string {
  const { streams, durationMs } = BENCH.latency;
  return `${r.samples} samples at ${Math.round(r.ratePerSec)}/s over ${durationMs / 1000}s, ${streams} single-writer streams`;
}
