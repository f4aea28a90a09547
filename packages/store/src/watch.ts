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

/**
 * An etcd watch as an async iterable with a bounded buffer: the consumer's side. `open` gives it
 * an etcd watch of its own; `WatchHub.open` a place among the consumers of one shared watch.
 */
export class WatchStream implements AsyncIterable<WatchItem> {
  private readonly queue: WatchItem[] = [];
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private closed = false;
  private lastRevision: string | undefined;
  private readonly maxBuffered: number;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private isReady = false;
  private detach: (() => void) | undefined;

  private constructor(maxBuffered: number | undefined) {
    this.maxBuffered = maxBuffered ?? DEFAULT_MAX_BUFFERED;
    this.readyPromise = new Promise<void>((resolve) => {
      this.resolveReady = resolve;
    });
  }

  /** A stream with an etcd watch of its own (the only way to watch from a past revision). */
  static open(client: Etcd3, options: WatchOptions): WatchStream {
    const stream = new WatchStream(options.maxBuffered);
    let builder = client.watch().prefix(options.prefix);
    if (options.fromRevision) builder = builder.startRevision(options.fromRevision);
    // Listeners go on before the watch is created, so that an error at creation (a compacted
    // start revision) is seen like any other.
    const watcher = builder.watcher();
    stream.detach = () => void watcher.cancel().catch(() => undefined);
    let connectedOnce = false;
    watcher.on("put", (kv) => stream.deliver({ type: "put", kv }));
    watcher.on("delete", (kv) => stream.deliver({ type: "delete", kv }));
    watcher.on("disconnected", () => {
      connectedOnce = false;
    });
    watcher.on("connected", () => {
      if (stream.isReady && !connectedOnce) stream.deliver({ type: "resync" });
      connectedOnce = true;
      stream.markReady();
    });
    watcher.on("error", (err) => {
      void compactedSince(client, options).then((compacted) => {
        if (compacted) {
          // Retrying cannot help: the client must list again and watch from the list's revision.
          stream.fail(
            new SmithError(
              "not_found",
              `etcd compacted the history this watch asked for (from revision ${options.fromRevision}): list again, then watch from the list's revision`,
              { field: "lastEventId", compacted: true },
            ),
          );
        } else stream.fail(toSmithError(err));
      });
    });
    watcher.on("end", () => stream.fail(new SmithError("unavailable", "the etcd watch ended")));
    return stream;
  }

  /** @internal A stream fed by a shared watch; `detach` takes it off the watch. */
  static attached(maxBuffered: number | undefined, detach: () => void): WatchStream {
    const stream = new WatchStream(maxBuffered);
    stream.detach = detach;
    return stream;
  }

  /** Resolves once the watch is established: events from then on will be delivered. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** @internal */
  get established(): boolean {
    return this.isReady;
  }

  /** @internal */
  markReady(): void {
    this.isReady = true;
    this.resolveReady();
  }

  /** @internal */
  deliver(item: WatchItem): void {
    if (this.closed || this.failure) return;
    if (item.type !== "resync") this.lastRevision = item.kv.mod_revision;
    if (this.queue.length >= this.maxBuffered) {
      this.queue.length = 0;
      this.fail(
        new SmithError(
          "unavailable",
          `the consumer fell more than ${this.maxBuffered} events behind; resume from the last one seen`,
          { limit: this.maxBuffered, resumeRevision: this.lastRevision, overflow: true },
        ),
      );
      return;
    }
    this.queue.push(item);
    this.wake?.();
  }

  /**
   * Up to `max` items already buffered, taken at once without waiting: a consumer that took one
   * item from the iterator gets whatever else arrived with it (one etcd watch response is many
   * events) in the same step.
   */
  takeBuffered(max: number): WatchItem[] {
    return max > 0 ? this.queue.splice(0, max) : [];
  }

  /** @internal Ends the stream with `err` (after the items already buffered). */
  fail(err: Error): void {
    if (this.closed || this.failure) return;
    this.failure = err;
    this.stopFeed();
    // A stream that never got established must not leave its consumer waiting on ready().
    this.resolveReady();
    this.wake?.();
  }

  private stopFeed(): void {
    const detach = this.detach;
    this.detach = undefined;
    detach?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.stopFeed();
    this.resolveReady();
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

interface SharedWatch {
  watcher: Watcher;
  consumers: Set<WatchStream>;
  /** Whether etcd currently confirms the watch (between "connected" and "disconnected"). */
  connected: boolean;
}

/**
 * One etcd watch per prefix, shared by every consumer of that prefix in this process: a hundred
 * dashboards following one loop's journal cost etcd one watch and this process one decode of
 * each event (consumers get the same `kv` objects), while each consumer keeps its own bounded
 * buffer, so a slow one overflows alone. The watch starts with the first consumer and is
 * cancelled with the last. Only live watches are shared: a watch from a past revision is
 * `WatchStream.open`.
 */
export class WatchHub {
  private readonly watches = new Map<string, SharedWatch>();

  private readonly client: Etcd3;

  constructor(client: Etcd3) {
    this.client = client;
  }

  /** The etcd watches open through this hub (one per prefix with consumers). */
  get size(): number {
    return this.watches.size;
  }

  open(prefix: string, options: { maxBuffered?: number } = {}): WatchStream {
    const shared = this.watches.get(prefix) ?? this.start(prefix);
    const stream = WatchStream.attached(options.maxBuffered, () => {
      shared.consumers.delete(stream);
      if (shared.consumers.size === 0) this.stop(prefix, shared);
    });
    shared.consumers.add(stream);
    // Joining a watch etcd already confirmed: every event from now on reaches this consumer.
    if (shared.connected) stream.markReady();
    return stream;
  }

  /**
   * Hands `kvs`, just committed by this process under `prefix`, to the consumers of that prefix's
   * shared watch at once, without waiting for etcd's watch event for the same writes (which
   * reaches them too, with the txn's answer or up to milliseconds later). Only for consumers
   * that drop a copy they already have and re-read on a gap, as journal tails do by seq.
   * Nothing happens when no one follows the prefix here.
   */
  announce(prefix: string, kvs: readonly IKeyValue[]): void {
    const shared = this.watches.get(prefix);
    if (!shared) return;
    for (const s of [...shared.consumers]) for (const kv of kvs) s.deliver({ type: "put", kv });
  }

  private start(prefix: string): SharedWatch {
    const watcher = this.client.watch().prefix(prefix).watcher();
    const shared: SharedWatch = { watcher, consumers: new Set(), connected: false };
    this.watches.set(prefix, shared);
    const each = (fn: (s: WatchStream) => void) => {
      for (const s of [...shared.consumers]) fn(s);
    };
    watcher.on("put", (kv) => each((s) => s.deliver({ type: "put", kv })));
    watcher.on("delete", (kv) => each((s) => s.deliver({ type: "delete", kv })));
    watcher.on("disconnected", () => {
      shared.connected = false;
    });
    watcher.on("connected", () => {
      shared.connected = true;
      // Consumers that were following may have missed events while it was down: they re-read.
      each((s) => (s.established ? s.deliver({ type: "resync" }) : s.markReady()));
    });
    const end = (err: Error) => {
      // A failed watch is dropped at once, so that the next consumer starts a fresh one.
      if (this.watches.get(prefix) === shared) this.watches.delete(prefix);
      each((s) => s.fail(err));
    };
    watcher.on("error", (err) => end(toSmithError(err)));
    watcher.on("end", () => end(new SmithError("unavailable", "the etcd watch ended")));
    return shared;
  }

  private stop(prefix: string, shared: SharedWatch): void {
    if (this.watches.get(prefix) === shared) this.watches.delete(prefix);
    void shared.watcher.cancel().catch(() => undefined);
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
