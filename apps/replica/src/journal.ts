import type { SmithClient } from "@smith/client";
import type { JournalEntryRequest } from "@smith/core";
import { apiRetryPolicy, errorCode, perTryTimeout } from "./retry.ts";

/**
 * Batches journal entries and ships them to the API: every `flushMs`, or at once when
 * `maxBatch` are waiting. Each entry carries a stable id, so a batch whose answer was lost is
 * simply sent again (the store writes an id once). Memory is bounded: past `maxPending`
 * entries, low-value agent chatter is dropped (and counted in a marker entry) rather than the
 * replica growing without bound while the API is away.
 */
export class JournalWriter {
  private readonly client: SmithClient;
  private readonly loopId: string;
  private readonly prefix: string;
  private counter = 0;
  private pending: (JournalEntryRequest & { id: string })[] = [];
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly maxPending: number;
  /** About 2.5 minutes of tries per batch (30, backing off to 5 s) before waiting for the next flush. */
  private readonly retry = apiRetryPolicy({ maxAttempts: 30 });
  /** Set when the API refuses this attempt's writes (CONFLICT): the attempt is over. */
  fenced = false;

  constructor(
    client: SmithClient,
    loopId: string,
    attempt: number,
    options: { flushMs?: number; maxBatch?: number; maxPending?: number } = {},
  ) {
    this.client = client;
    this.loopId = loopId;
    this.prefix = `a${attempt}-${Date.now().toString(36)}-`;
    this.flushMs = options.flushMs ?? 200;
    this.maxBatch = options.maxBatch ?? 100;
    this.maxPending = options.maxPending ?? 5_000;
  }

  write(entry: JournalEntryRequest): void {
    if (this.pending.length >= this.maxPending && entry.phase === "agent" && entry.level !== "error") {
      this.dropped++;
      return;
    }
    this.pending.push({ ...entry, id: entry.id ?? `${this.prefix}${++this.counter}` });
    if (this.pending.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Sends everything pending; resolves when it is stored (or the attempt is fenced out). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(() => this.send());
    return this.flushing;
  }

  private async send(): Promise<void> {
    if (this.dropped > 0) {
      this.pending.push({
        id: `${this.prefix}${++this.counter}`,
        phase: "agent",
        level: "warn",
        actor: { type: "replica", id: "journal" },
        message: `${this.dropped} agent events were dropped while the API was unreachable`,
      });
      this.dropped = 0;
    }
    while (this.pending.length > 0 && !this.fenced) {
      const batch = this.pending.slice(0, this.maxBatch);
      try {
        await this.retry.execute(() =>
          perTryTimeout.execute(() =>
            this.client.replica.appendJournal.mutate({ loopId: this.loopId, entries: batch }),
          ),
        );
        this.pending.splice(0, batch.length);
      } catch (err) {
        const code = errorCode(err);
        if (code === "CONFLICT" || code === "FORBIDDEN" || code === "UNAUTHORIZED") {
          this.fenced = true;
          this.pending = [];
          return;
        }
        if (code === "BAD_REQUEST" || code === "PAYLOAD_TOO_LARGE") {
          // A bad entry would block the journal forever. Find it (send one by one), drop only it,
          // and say so in its place.
          this.pending.splice(0, batch.length);
          for (const entry of batch) {
            try {
              await this.client.replica.appendJournal.mutate({ loopId: this.loopId, entries: [entry] });
            } catch {
              this.pending.unshift({
                id: `${entry.id}-refused`,
                phase: entry.phase,
                level: "warn",
                actor: { type: "replica", id: "journal" },
                message: `a ${entry.phase} entry was refused by the API and dropped (${String(err instanceof Error ? err.message : err).slice(0, 500)})`,
              });
            }
          }
          continue;
        }
        // The API stayed away through every retry (or gave an answer no retry changes): keep the
        // entries for the next flush.
        return;
      }
    }
  }
}
