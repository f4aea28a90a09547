import type { Logger } from "@smith/logger";
import { NOTIFY_STATES, notificationBody, notifyEnteredAt, notifyTransitionKey, type Loop } from "@smith/core";
import type { NotificationTarget, SmithStore } from "@smith/store";
import { ExponentialBackoff, handleAll, retry } from "cockatiel";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signNotification } from "./notifySignature.ts";

export interface NotifierOptions {
  store: SmithStore;
  /** Who takes the notifications (the scheduler's id): recorded with each one. */
  id: string;
  /** Webhooks told of every loop's transitions (SMITH_NOTIFY_URLS); a loop's spec.notify.urls add to them. */
  urls?: readonly string[];
  /** The HMAC-SHA256 key (SMITH_NOTIFY_SECRET). Without it nothing is sent: every target is journaled `failed`. */
  secret?: string;
  log: Logger;
  /** Tries per target, the first included (default 5). */
  maxAttempts?: number;
  /** First delay between tries, doubled each time (default 1 s), capped by maxDelayMs (default 60 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** One HTTP request (default 10 s). */
  requestTimeoutMs?: number;
  /**
   * Transitions older than this when first seen are not announced (default 15 min): a notifier
   * that starts (or reconnects) announces what it missed lately, not a whole history.
   */
  recentMs?: number;
  /** Longest wait between two tries to watch etcd again (default 10 s). */
  maxReconnectDelayMs?: number;
  now?: () => Date;
}

const SEEN_MAX = 10_000;

/**
 * Outbound webhooks for loop transitions into waiting, flatline and synced. It watches the loops
 * and, apart from the loops' own writes, sends from its own tasks: a slow or dead receiver never
 * holds a loop back. Every scheduler runs one; the create-if-absent key
 * `notifications/<loop>/<transition>` makes exactly one of them send each transition. Each
 * target is retried with exponential backoff, and its fate (delivered or failed, with the last
 * HTTP status; never the URL's path or the key) is journaled on the loop.
 */
export class Notifier {
  private readonly o: NotifierOptions;
  private readonly stopping = new AbortController();
  private readonly inflight = new Set<Promise<void>>();
  /** Transitions this notifier has already decided on, so that later writes in the state cost no txn. */
  private readonly seen = new Set<string>();
  private running: Promise<void> | undefined;
  private closeWatch: (() => void) | undefined;

  constructor(options: NotifierOptions) {
    this.o = options;
  }

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /** Starts watching (returns at once; the watch reconnects with backoff until stop()). */
  start(): void {
    if (this.running) return;
    const reconnect = retry(handleAll, {
      maxAttempts: Number.POSITIVE_INFINITY,
      backoff: new ExponentialBackoff({ initialDelay: 500, maxDelay: this.o.maxReconnectDelayMs ?? 10_000 }),
    });
    this.running = reconnect.execute(() => this.follow(), this.stopping.signal).catch(() => undefined);
  }

  /** Stops watching, cancels the retries in flight and waits for them to settle. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.closeWatch?.();
    await this.running;
    await Promise.allSettled([...this.inflight]);
  }

  /** Waits until every notification taken so far is delivered or failed (tests). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** One watch session: what changed lately (from a list), then every change from the list's revision on. */
  private async follow(): Promise<void> {
    const { store } = this.o;
    let revision: string | undefined;
    let cursor: string | undefined;
    do {
      const page = await store.loops.list({ state: [...NOTIFY_STATES], cursor, limit: 500 });
      revision ??= page.revision;
      for (const loop of page.items) this.consider(loop, page.revision);
      cursor = page.nextCursor;
    } while (cursor && !this.stopping.signal.aborted);
    if (this.stopping.signal.aborted) return;
    const watch = store.loops.watch({ fromRevision: String(BigInt(revision ?? "0") + 1n), maxBuffered: 5_000 });
    this.closeWatch = () => watch.close();
    try {
      for await (const change of watch) {
        if (change.type === "put") this.consider(change.loop, change.revision);
      }
    } finally {
      this.closeWatch = undefined;
    }
    if (!this.stopping.signal.aborted) throw new Error("the loop watch ended");
  }

  private targetsOf(loop: Loop): string[] {
    return [...new Set([...(this.o.urls ?? []), ...(loop.spec.notify?.urls ?? [])])];
  }

  private consider(loop: Loop, revision: string): void {
    const transition = notifyTransitionKey(loop);
    if (transition === undefined || this.stopping.signal.aborted) return;
    const memo = `${loop.id}/${transition}`;
    if (this.seen.has(memo)) return;
    this.remember(memo);
    const targets = this.targetsOf(loop);
    if (targets.length === 0) return;
    if (this.now().getTime() - Date.parse(notifyEnteredAt(loop)) > (this.o.recentMs ?? 15 * 60_000)) return;
    const task = this.announce(loop, revision, transition, targets)
      .catch((err: unknown) => this.o.log.warn({ loopId: loop.id, transition, err }, "notification failed"))
      .finally(() => this.inflight.delete(task));
    this.inflight.add(task);
  }

  private remember(memo: string): void {
    this.seen.add(memo);
    if (this.seen.size > SEEN_MAX) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  private async announce(loop: Loop, revision: string, transition: string, urls: string[]): Promise<void> {
    const { store } = this.o;
    const state = loop.status.state as (typeof NOTIFY_STATES)[number];
    if (!(await store.notifications.take(loop.id, transition, state, this.o.id))) return;
    const targets = await Promise.all(urls.map((url, index) => this.deliver(loop, revision, url, index)));
    await store.notifications.complete(loop.id, transition, targets);
    await store.journal.append(
      loop.id,
      targets.map((t) => ({
        // The entry id makes a repeated append (etcd answered late) store it once.
        id: `notify:${transition}:${t.index}`.slice(0, 128),
        phase: "notify" as const,
        level: t.outcome === "delivered" ? ("info" as const) : ("warn" as const),
        actor: { type: "scheduler" as const, id: this.o.id },
        message:
          `${state} notification to ${t.origin} ${t.outcome}` +
          (t.status !== undefined ? ` (HTTP ${t.status})` : "") +
          ` after ${t.attempts} attempt${t.attempts === 1 ? "" : "s"}` +
          (t.outcome === "failed" && t.error ? `: ${t.error}` : ""),
        metadata: {
          transition,
          target: t.index,
          origin: t.origin,
          outcome: t.outcome,
          attempts: t.attempts,
          ...(t.status !== undefined ? { status: t.status } : {}),
        },
      })),
    );
  }

  private async deliver(loop: Loop, revision: string, url: string, index: number): Promise<NotificationTarget> {
    const origin = originOf(url);
    const secret = this.o.secret;
    if (!secret) {
      return {
        index,
        origin,
        outcome: "failed",
        attempts: 0,
        error: "SMITH_NOTIFY_SECRET is not set: nothing is sent unsigned",
      };
    }
    let attempts = 0;
    let status: number | undefined;
    let error: string | undefined;
    const policy = retry(handleAll, {
      maxAttempts: Math.max(0, (this.o.maxAttempts ?? 5) - 1),
      backoff: new ExponentialBackoff({
        initialDelay: this.o.initialDelayMs ?? 1_000,
        maxDelay: this.o.maxDelayMs ?? 60_000,
      }),
    });
    try {
      await policy.execute(async ({ signal }) => {
        attempts++;
        const sentAt = this.now();
        const body = notificationBody(loop, revision, sentAt);
        if (!body) throw new Error("the loop is not in a notified state");
        const raw = JSON.stringify(body);
        status = undefined;
        try {
          const res = await fetch(url, {
            method: "POST",
            // A redirect would send the signed body somewhere the operator did not name.
            redirect: "manual",
            headers: {
              "content-type": "application/json",
              "user-agent": "smith-notifier/1",
              "x-smith-event": body.event,
              "x-smith-delivery": body.id,
              [TIMESTAMP_HEADER]: String(Math.floor(sentAt.getTime() / 1000)),
              [SIGNATURE_HEADER]: signNotification(secret, raw),
            },
            body: raw,
            signal: AbortSignal.any([signal, AbortSignal.timeout(this.o.requestTimeoutMs ?? 10_000)]),
          });
          status = res.status;
          await res.body?.cancel().catch(() => undefined);
          if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
          error = undefined;
        } catch (err) {
          error = describe(err);
          throw err;
        }
      }, this.stopping.signal);
      return { index, origin, outcome: "delivered", attempts, ...(status !== undefined ? { status } : {}) };
    } catch {
      return {
        index,
        origin,
        outcome: "failed",
        attempts,
        ...(status !== undefined ? { status } : {}),
        ...(error ? { error: error.slice(0, 500) } : {}),
      };
    }
  }
}

/** scheme://host[:port]: what the journal may show of a URL whose path can be a secret. */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid URL)";
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const code = cause && typeof cause === "object" && "code" in cause ? String((cause as { code: unknown }).code) : "";
  return code ? `${err.message} (${code})` : err.message;
}
