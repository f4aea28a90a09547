/** The default pace of screen updates: at most one per 100 ms, however fast events arrive. */
const DEFAULT_BATCH_INTERVAL_MS = 100;
/** Queued actions are folded into the working state once this many wait, so the queue stays small. */
const DEFAULT_MAX_QUEUED = 500;

export interface BatcherOptions<S, A> {
  initial: S;
  /** Pure: applies a batch of actions. */
  reduce: (state: S, actions: readonly A[]) => S;
  /** Published states are at least this far apart (default 100 ms). */
  intervalMs?: number;
  maxQueued?: number;
  /** Clock, for tests; default `Date.now`. */
  now?: () => number;
}

/**
 * Batches state updates: actions from subscriptions queue up and are applied, and the new state
 * published to listeners, at most once per `intervalMs` — the first after a quiet spell at once,
 * the rest on the trailing edge. A journal writing 1,000 lines a second thus costs ten screen
 * updates a second, not a thousand, and the queue never holds more than `maxQueued` actions.
 * Keys use `dispatchNow`: applied and published immediately, after what was queued before them.
 */
export class Batcher<S, A> {
  private working: S;
  private published: S;
  private queue: A[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastPublish = Number.NEGATIVE_INFINITY;
  private readonly listeners = new Set<() => void>();
  private readonly reduce: (state: S, actions: readonly A[]) => S;
  private readonly intervalMs: number;
  private readonly maxQueued: number;
  private readonly now: () => number;
  private closed = false;
  /** States published so far (what a test counts against the throttle). */
  publishes = 0;

  constructor(options: BatcherOptions<S, A>) {
    this.working = options.initial;
    this.published = options.initial;
    this.reduce = options.reduce;
    this.intervalMs = options.intervalMs ?? DEFAULT_BATCH_INTERVAL_MS;
    this.maxQueued = Math.max(1, options.maxQueued ?? DEFAULT_MAX_QUEUED);
    this.now = options.now ?? Date.now;
  }

  /** The last published state (stable between publishes, as `useSyncExternalStore` requires). */
  readonly getState = (): S => this.published;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Queues an action; it reaches the screen with the next batch. */
  enqueue(action: A): void {
    if (this.closed) return;
    this.queue.push(action);
    if (this.queue.length >= this.maxQueued) this.fold();
    if (this.timer) return;
    const wait = Math.max(0, this.lastPublish + this.intervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.publish();
    }, wait);
  }

  /** Applies the queue and then `actions`, and publishes now. */
  dispatchNow(actions: readonly A[]): void {
    if (this.closed) return;
    this.queue.push(...actions);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.publish();
  }

  /** Stops: queued actions are dropped and no listener is called again. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.listeners.clear();
  }

  private fold(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.working = this.reduce(this.working, batch);
  }

  private publish(): void {
    this.fold();
    this.lastPublish = this.now();
    if (this.working === this.published) return;
    this.published = this.working;
    this.publishes += 1;
    for (const listener of this.listeners) listener();
  }
}
