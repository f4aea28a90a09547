import { TRPCClientError, type SmithClient } from "@smith/client";
import { LIMITS, visibleLine, type AuditEvent } from "@smith/core";
import { readFile, stat } from "node:fs/promises";
import { Batcher } from "./batcher.ts";
import { shortId } from "./format.ts";
import { handleInput, type Command, type KeyInfo } from "./keys.ts";
import { initialState, reduceAll, type Action, type TuiState } from "./state.ts";

export interface TuiControllerOptions {
  client: SmithClient;
  /** Screen updates are at least this far apart (default 100 ms). */
  intervalMs?: number;
  /** Journal lines kept in the detail view (default 2,000). */
  journalLimit?: number;
  /** How often ages and the status line are refreshed (default 1 s). */
  tickMs?: number;
  /** How often `loops.stats` (schedulers, queue depth) is polled for the header (default 5 s). */
  statsMs?: number;
  /** Called once when the user quits (`q`, ctrl-c). */
  onQuit?: () => void;
  now?: () => number;
}

interface Subscription {
  unsubscribe(): void;
}

/** The tRPC client's connection states, as `onConnectionStateChange` reports them. */
interface ConnectionStateChange {
  state: "idle" | "connecting" | "pending";
  error: { message: string } | null;
}

/** The audit view: events of the last day, at most AUDIT_PAGES pages read, the newest AUDIT_KEPT kept. */
const AUDIT_WINDOW_MS = 24 * 3_600_000;
const AUDIT_PAGES = 10;
const AUDIT_KEPT = 500;

/** Journal entries shown when a loop is opened (older ones are a `smithctl logs` away). */
const JOURNAL_BACKLOG = 500;

/**
 * Connects the pure state to the world: feeds `loops.watch` and `journal.tail` events into the
 * batcher, turns key presses into actions and commands, and runs the commands (API mutations),
 * reporting their outcome on the status line. A failed mutation is a status line, never a crash.
 */
export class TuiController {
  readonly store: Batcher<TuiState, Action>;
  private readonly client: SmithClient;
  private readonly now: () => number;
  private readonly tickMs: number;
  private readonly onQuit: () => void;
  private loopsSub: Subscription | undefined;
  private journalSub: (Subscription & { loopId: string }) | undefined;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private readonly statsMs: number;
  private statsTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(options: TuiControllerOptions) {
    this.client = options.client;
    this.now = options.now ?? Date.now;
    this.tickMs = options.tickMs ?? 1_000;
    this.statsMs = options.statsMs ?? 5_000;
    this.onQuit = options.onQuit ?? (() => undefined);
    this.store = new Batcher<TuiState, Action>({
      initial: initialState({ now: this.now(), journalLimit: options.journalLimit }),
      reduce: reduceAll,
      intervalMs: options.intervalMs,
      now: this.now,
    });
  }

  /** Subscribes to the loops (snapshot first, then every change) and starts the clock. */
  start(): void {
    this.loopsSub = this.client.loops.watch.subscribe(
      { snapshot: true },
      {
        onData: ({ data }) => this.store.enqueue({ type: "watch", event: data }),
        onConnectionStateChange: (s) =>
          this.connectionChanged(s, (connected, error) => ({ type: "connection", connected, at: this.now(), error })),
        onError: (err) => {
          this.store.enqueue({ type: "connection", connected: false, at: this.now(), error: err.message });
          this.status("error", `loops.watch stopped: ${describe(err)}`);
        },
      },
    );
    this.ticker = setInterval(() => this.store.enqueue({ type: "tick", now: this.now() }), this.tickMs);
    void this.pollStats();
  }

  /**
   * One `loops.stats` call (and, in the detail view, `handoffs.list` for the latest handoff),
   * then the next ones `statsMs` after they answered (calls never pile up).
   */
  /** The audit view's events (the last day's, newest first) or the cost view's totals; failures are shown in the view. */
  private async fetchViewData(): Promise<void> {
    const kind = this.store.getState().view.kind;
    const at = () => this.now();
    if (kind === "audit") {
      try {
        const from = new Date(this.now() - AUDIT_WINDOW_MS).toISOString();
        let events: AuditEvent[] = [];
        let cursor: string | undefined;
        // Oldest first by page: read the day's pages, keep the newest.
        for (let page = 0; page < AUDIT_PAGES; page++) {
          const r = await this.client.audit.list.query({ from, cursor, limit: 500 });
          events = events.concat(r.items).slice(-AUDIT_KEPT);
          cursor = r.nextCursor;
          if (!cursor) break;
        }
        if (!this.stopped) this.store.enqueue({ type: "auditLoaded", result: { value: events.reverse(), at: at() } });
      } catch (err) {
        if (!this.stopped) this.store.enqueue({ type: "auditLoaded", result: { error: describe(err), at: at() } });
      }
    } else if (kind === "cost") {
      try {
        const totals = await this.client.cost.summary.query({});
        if (!this.stopped) this.store.enqueue({ type: "costLoaded", result: { value: totals, at: at() } });
      } catch (err) {
        if (!this.stopped) this.store.enqueue({ type: "costLoaded", result: { error: describe(err), at: at() } });
      }
    }
  }

  /** The latest handoff of the loop in the detail view; a failure leaves the last one shown. */
  private async fetchHandoff(): Promise<void> {
    const view = this.store.getState().view;
    if (view.kind !== "detail") return;
    try {
      const handoffs = await this.client.handoffs.list.query({ loopId: view.loopId });
      if (!this.stopped) this.store.enqueue({ type: "handoff", loopId: view.loopId, handoff: handoffs.at(-1) });
    } catch {
      // The loop may be gone (its deletion shows in the view); the next poll tries again.
    }
  }

  private async pollStats(): Promise<void> {
    await Promise.all([this.fetchHandoff(), this.fetchViewData()]);
    try {
      const stats = await this.client.loops.stats.query();
      if (this.stopped) return;
      this.store.enqueue({ type: "cluster", info: { schedulers: stats.schedulers, queueDepth: stats.queueDepth } });
    } catch (err) {
      if (this.stopped) return;
      this.store.enqueue({ type: "cluster", info: { error: describe(err) } });
    }
    this.statsTimer = setTimeout(() => void this.pollStats(), this.statsMs);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.statsTimer) clearTimeout(this.statsTimer);
    this.loopsSub?.unsubscribe();
    this.journalSub?.unsubscribe();
    this.journalSub = undefined;
    this.store.close();
  }

  resize(rows: number, columns: number): void {
    this.store.dispatchNow([{ type: "resize", rows, columns }]);
  }

  /** A key press (or a paste): its actions are applied at once, then its commands run. */
  key(input: string, key: KeyInfo): void {
    if (this.stopped) return;
    const { actions, commands } = handleInput(this.store.getState(), input, key);
    const before = this.store.getState().view.kind;
    if (actions.length > 0) this.store.dispatchNow(actions);
    this.syncJournal();
    if (this.store.getState().view.kind !== before) void this.fetchViewData();
    for (const command of commands) this.run(command);
  }

  /** One journal subscription, for the loop in the detail view; none on the table. */
  private syncJournal(): void {
    const state = this.store.getState();
    const wanted = state.view.kind === "detail" ? state.view.loopId : undefined;
    if (this.journalSub?.loopId === wanted) return;
    this.journalSub?.unsubscribe();
    this.journalSub = undefined;
    if (!wanted) return;
    void this.fetchHandoff();
    const loopId = wanted;
    let sub: { unsubscribe(): void } | undefined;
    let cancelled = false;
    this.journalSub = {
      loopId,
      unsubscribe: () => {
        cancelled = true;
        sub?.unsubscribe();
      },
    };
    // Open near the end: the newest JOURNAL_BACKLOG entries, then follow (not a replay from seq 1).
    void this.client.journal.list
      .query({ loopId, order: "desc", limit: 1 })
      .then((page) => page.entries[0]?.seq ?? 0)
      .catch(() => 0)
      .then((newest) => {
        if (cancelled) return;
        sub = this.subscribeJournal(loopId, Math.max(0, newest - JOURNAL_BACKLOG));
      });
  }

  private subscribeJournal(loopId: string, afterSeq: number): { unsubscribe(): void } {
    // The batched tail: a busy journal arrives as few events (the view renders every 100 ms anyway).
    return this.client.journal.tailBatched.subscribe(
      { loopId, afterSeq },
      {
        onData: ({ data }) => {
          for (const entry of data.entries) this.store.enqueue({ type: "journal", entry });
        },
        onConnectionStateChange: (s) =>
          this.connectionChanged(s, (connected, error) => ({
            type: "journalConnection",
            loopId,
            connected,
            at: this.now(),
            error,
          })),
        onError: (err) => {
          this.store.enqueue({
            type: "journalConnection",
            loopId,
            connected: false,
            at: this.now(),
            error: err.message,
          });
          this.status("error", `journal of ${shortId(loopId)} stopped: ${describe(err)}`);
        },
      },
    );
  }

  private connectionChanged(
    s: ConnectionStateChange,
    action: (connected: boolean, error: string | undefined) => Action,
  ): void {
    // `pending` is tRPC's name for "connected, waiting for events"; `idle` follows an unsubscribe.
    if (s.state === "idle") return;
    this.store.enqueue(action(s.state === "pending", s.error?.message));
  }

  private run(command: Command): void {
    if (command.type === "quit") {
      this.onQuit();
      return;
    }
    if (command.type === "create") {
      void this.create(command.prdPath, command.repoUrl);
      return;
    }
    const id = shortId(command.loopId);
    void (async () => {
      try {
        switch (command.type) {
          case "cancel": {
            const loop = await this.client.loops.cancel.mutate({ id: command.loopId, reason: command.reason });
            this.status("info", `loop ${id} ${loop.status.state}`);
            break;
          }
          case "retry": {
            const loop = await this.client.loops.retry.mutate({ id: command.loopId, reason: command.reason });
            this.status("info", `loop ${id} retried: ${loop.status.state}`);
            break;
          }
          case "steer":
            await this.client.loops.steer.mutate({ id: command.loopId, message: command.message });
            this.status("info", `steering message queued for loop ${id}`);
            break;
          case "answer": {
            const loop = await this.client.loops.answer.mutate({ id: command.loopId, answer: command.answer });
            this.status("info", `loop ${id} answered: ${loop.status.state}`);
            break;
          }
        }
      } catch (err) {
        this.status("error", `${command.type} ${id} failed, ${describe(err)}`);
      }
    })();
  }

  /**
   * `n`: reads the PRD file (markdown through prd.importMarkdown), validates it with prd.validate
   * and only then creates the loop with the PRD inline. Any failure is a status line; nothing is created.
   */
  private async create(prdPath: string, repoUrl: string): Promise<void> {
    const shown = visibleLine(prdPath);
    try {
      const size = (await stat(prdPath)).size;
      if (size > LIMITS.prdBytes) {
        this.status("error", `PRD ${shown} is ${size} bytes; the limit is ${LIMITS.prdBytes}`);
        return;
      }
      let content = await readFile(prdPath, "utf8");
      if (/\.(md|markdown)$/i.test(prdPath))
        content = (await this.client.prd.importMarkdown.mutate({ markdown: content })).content;
      const report = await this.client.prd.validate.query({ content });
      const first = report.errors[0];
      if (!report.valid && first) {
        const more = report.errors.length > 1 ? ` (+${report.errors.length - 1} more)` : "";
        this.status(
          "error",
          `PRD ${shown} is not valid, nothing created: ${first.path || "document"}: ${first.message}${more}`,
        );
        return;
      }
      const { loop } = await this.client.loops.create.mutate({
        spec: { repo: { url: repoUrl }, prd: { kind: "inline", content } },
      });
      this.status("info", `loop ${shortId(loop.id)} created from ${shown}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.status("error", `create from ${shown} failed, ${code === "ENOENT" ? "no such file" : describe(err)}`);
    }
  }

  private status(level: "info" | "error", text: string): void {
    this.store.dispatchNow([{ type: "status", level, text, at: this.now() }]);
  }
}

/** An API error as one line: the tRPC code first (`PRECONDITION_FAILED: …`), so that a narrow status line still shows it. */
function describe(err: unknown): string {
  if (err instanceof TRPCClientError) {
    const data: unknown = err.data;
    const code =
      data && typeof data === "object" && "code" in data && typeof data.code === "string" ? data.code : undefined;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
