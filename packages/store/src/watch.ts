import { SmithError } from "@smith/core";
import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import { toSmithError } from "./etcd.ts";

export interface WatchOptions {
  prefix: string;
  /** First revision to deliver (etcd replays history from there, unless it was compacted). */
  fromRevision?: string;
  /**
   * Events buffered for a slow consumer before the stream gives up with a recoverable
   * `unavailable` error carrying `resumeRevision`: a watch never buffers without bound.
   */
  maxBuffered?: number;
}

export type WatchItem =
  | { type: "put" | "delete"; kv: IKeyValue }
  /** The watch reconnected after a dropped connection; consumers that can, re-read to be sure. */
  | { type: "resync" };

export const DEFAULT_MAX_BUFFERED = 10_000;

/** An etcd watch as an async iterable with a bounded buffer. */
export class WatchStream implements AsyncIterable<WatchItem> {
  private readonly queue: WatchItem[] = [];
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private closed = false;
  private watcher: Watcher | undefined;
  private lastRevision: string | undefined;
  private readonly maxBuffered: number;
  private readonly readyPromise: Promise<void>;
  private readyResolved = false;

  constructor(client: Etcd3, options: WatchOptions) {
    this.maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    let builder = client.watch().prefix(options.prefix);
    if (options.fromRevision) builder = builder.startRevision(options.fromRevision);
    // Listeners go on before the watch is created, so that an error at creation (a compacted
    // start revision) is seen like any other.
    const watcher = builder.watcher();
    this.watcher = watcher;
    let connectedOnce = false;
    watcher.on("put", (kv) => this.push({ type: "put", kv }));
    watcher.on("delete", (kv) => this.push({ type: "delete", kv }));
    watcher.on("disconnected", () => {
      connectedOnce = false;
    });
    this.readyPromise = new Promise<void>((resolve) => {
      watcher.on("connected", () => {
        if (this.readyResolved && !connectedOnce) this.push({ type: "resync" });
        connectedOnce = true;
        this.readyResolved = true;
        resolve();
      });
      watcher.on("error", (err) => {
        void compactedSince(client, options).then((compacted) => {
          if (compacted) {
            // Retrying cannot help: the client must list again and watch from the list's revision.
            this.fail(
              new SmithError(
                "not_found",
                `etcd compacted the history this watch asked for (from revision ${options.fromRevision}): list again, then watch from the list's revision`,
                {
                  field: "lastEventId",
                  compacted: true,
                },
              ),
            );
          } else this.fail(toSmithError(err));
          resolve();
        });
      });
      watcher.on("end", () => {
        this.fail(new SmithError("unavailable", "the etcd watch ended"));
        resolve();
      });
    });
  }

  /** Resolves once the watch is established: events from then on will be delivered. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  private push(item: WatchItem): void {
    if (this.closed || this.failure) return;
    if (item.type !== "resync") this.lastRevision = item.kv.mod_revision;
    if (this.queue.length >= this.maxBuffered) {
      this.queue.length = 0;
      this.fail(
        new SmithError(
          "unavailable",
          `the consumer fell more than ${this.maxBuffered} events behind; resume from the last one seen`,
          {
            limit: this.maxBuffered,
            resumeRevision: this.lastRevision,
            overflow: true,
          },
        ),
      );
      return;
    }
    this.queue.push(item);
    this.wake?.();
  }

  private fail(err: Error): void {
    if (this.closed || this.failure) return;
    this.failure = err;
    this.stopWatcher();
    this.wake?.();
  }

  private stopWatcher(): void {
    const w = this.watcher;
    this.watcher = undefined;
    if (w) void w.cancel().catch(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.stopWatcher();
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WatchItem> {
    try {
      for (;;) {
        const item = this.queue.shift();
        if (item) {
          yield item;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.closed) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
      }
    } finally {
      this.close();
    }
  }
}

/**
 * Whether the history from `fromRevision` is gone. etcd cancels a watch on a compacted revision
 * with an empty reason; a read at that revision says plainly whether it was compacted.
 */
async function compactedSince(client: Etcd3, options: WatchOptions): Promise<boolean> {
  if (!options.fromRevision) return false;
  try {
    await client.get(options.prefix).revision(options.fromRevision).exec();
    return false;
  } catch (err) {
    return err instanceof Error && /compacted/i.test(err.message);
  }
}
