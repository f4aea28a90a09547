import type { Logger } from "@smith/logger";
import type { OutboxItem, OutboxRecord, SmithStore } from "@smith/store";
import { randomUUID } from "node:crypto";
import type { GitHubPublisher } from "./publisher.ts";

export interface FlatlineOutboxOptions {
  /** How often every API process looks for items nobody told yet (default 15 000 ms). */
  intervalMs?: number;
  /** An item taken this long ago by a process that did not finish is taken over (default 120 000 ms). */
  takeoverMs?: number;
  /** Tries before an item is given up, journaled as such (default 8). */
  maxTries?: number;
  /** First wait after a failed try, doubled each time, at most an hour (default 30 000 ms). */
  backoffMs?: number;
}

/**
 * Tells the source issue of a loop that flatlined, whoever ended it. The transition wrote an
 * outbox item (`outbox/<loop>/github-flatline-<attempt>`) in its own txn; this drains the
 * outbox: right away for the loops this process ended (replica finalize, operator override),
 * and every `intervalMs` for the rest (the reconciler's flatlines: replica lost, timed out,
 * abandoned). Each API process drains; an item is taken with a txn on its revision, so one
 * process tells it, and deleted once told. A process that dies after commenting and before the
 * delete leaves the item to be taken over, and the comment's marker on the issue keeps the next
 * try from commenting again: one comment per flatline.
 */
export class FlatlineOutbox {
  private readonly store: SmithStore;
  private readonly publisher: GitHubPublisher;
  private readonly log: Logger;
  private readonly o: Required<FlatlineOutboxOptions>;
  private readonly id = `api-${randomUUID().slice(0, 8)}`;
  /** Items this process is telling now: a poll and a kick never work on one item together. */
  private readonly busy = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(deps: { store: SmithStore; publisher: GitHubPublisher; log: Logger; options?: FlatlineOutboxOptions }) {
    this.store = deps.store;
    this.publisher = deps.publisher;
    this.log = deps.log.child({ component: "github-outbox" });
    this.o = {
      intervalMs: deps.options?.intervalMs ?? 15_000,
      takeoverMs: deps.options?.takeoverMs ?? 120_000,
      maxTries: deps.options?.maxTries ?? 8,
      backoffMs: deps.options?.backoffMs ?? 30_000,
    };
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.kick(), this.o.intervalMs);
    this.timer.unref();
    void this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /**
   * Drains (one loop's items, or all) and resolves when done; never rejects: what fails stays in
   * the outbox for the next pass.
   */
  kick(loopId?: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const task = this.drain(loopId).then(
      () => undefined,
      (err: unknown) =>
        this.log.warn(
          { err, ...(loopId ? { loopId } : {}) },
          "the outbox could not be read; the next pass tries again",
        ),
    );
    this.inflight.add(task);
    void task.finally(() => this.inflight.delete(task));
    return task;
  }

  /** Waits for every drain started so far (tests, stop). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Tells what is due; the number of items finished (told, skipped or given up). */
  async drain(loopId?: string): Promise<number> {
    let finished = 0;
    for (const item of await this.store.outbox.list(loopId)) {
      if (this.stopped) break;
      if (this.busy.has(item.key) || !this.due(item.record)) continue;
      this.busy.add(item.key);
      try {
        if (await this.tell(item)) finished++;
      } finally {
        this.busy.delete(item.key);
      }
    }
    return finished;
  }

  private due(record: OutboxRecord): boolean {
    const now = Date.now();
    if (record.notBefore && Date.parse(record.notBefore) > now) return false;
    return !record.takenAt || now - Date.parse(record.takenAt) >= this.o.takeoverMs;
  }

  private async tell(found: OutboxItem): Promise<boolean> {
    const item = await this.store.outbox.update(found, {
      ...found.record,
      takenBy: this.id,
      takenAt: new Date().toISOString(),
    });
    if (!item) return false; // another process took it first
    const { record } = item;
    const loop = (await this.store.loops.get(record.loopId))?.loop;
    if (!loop) {
      await this.store.outbox.remove(item);
      return true;
    }
    const log = this.log.child({ loopId: loop.id, attempt: record.attempt });
    let outcome: Awaited<ReturnType<GitHubPublisher["tellFlatline"]>>;
    try {
      outcome = await this.publisher.tellFlatline(loop, record);
    } catch (err) {
      const tries = record.tries + 1;
      const lastError = (err instanceof Error ? err.message : String(err)).slice(0, 512);
      if (tries >= this.o.maxTries) {
        log.warn({ err, tries }, "gave up telling the source issue of a flatline");
        if (await this.store.outbox.remove(item))
          await this.journal(record, "warn", `could not tell the source issue: ${lastError} (${tries} tries)`);
        return true;
      }
      const wait = Math.min(this.o.backoffMs * 2 ** (tries - 1), 3_600_000);
      log.info({ err, tries, retryInMs: wait }, "could not tell the source issue of a flatline; trying again later");
      await this.store.outbox.update(item, {
        ...record,
        tries,
        lastError,
        notBefore: new Date(Date.now() + wait).toISOString(),
        takenBy: undefined,
        takenAt: undefined,
      });
      return false;
    }
    if (!(await this.store.outbox.remove(item))) return false;
    const told =
      outcome === "commented"
        ? `the source issue ${loop.source.ref ?? ""} was told of the flatline (${record.reason})`
        : outcome === "present"
          ? `the source issue ${loop.source.ref ?? ""} already had the flatline comment`
          : `the source issue was not told of the flatline: ${outcome.skipped}`;
    await this.journal(record, "info", told);
    log.info({ outcome: typeof outcome === "string" ? outcome : "skipped" }, told);
    return true;
  }

  private async journal(record: OutboxRecord, level: "info" | "warn", message: string): Promise<void> {
    await this.store.journal
      .append(record.loopId, [
        {
          // The entry id makes a repeated append store it once.
          id: `github-flatline:${record.attempt}`,
          phase: "notify",
          level,
          actor: { type: "api", id: this.id },
          message,
          metadata: { attempt: record.attempt, reason: record.reason },
        },
      ])
      .catch((err: unknown) => this.log.warn({ err, loopId: record.loopId }, "could not journal the flatline comment"));
  }
}
