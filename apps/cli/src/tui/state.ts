import { LOOP_STATES, type AuditEvent, type Handoff, type JournalEntry, type Loop, type LoopState } from "@smith/core";
import {
  appendEntries,
  emptyJournal,
  nextMatch,
  scrollJournal,
  searchJournal,
  setFollow,
  type JournalView,
} from "./journalView.ts";
import { storiesPanelRows } from "./stories.ts";

// The TUI's whole state and the one pure function that changes it. Components only read it;
// subscriptions and keys only produce actions. Nothing here touches the network or the terminal.

/** One subscription's link to the API, as the header shows it. */
export type Connection =
  | { status: "connecting"; error?: string }
  /** `lostAt` is set when this connection is a reconnection: the header says "reconnected". */
  | { status: "connected"; since: number; lostAt?: number }
  | { status: "reconnecting"; lostAt: number; error?: string };

/** A line of text being typed at the bottom of the screen. */
export type Prompt =
  /** `/`: the filter, applied as it is typed; `previous` comes back on esc. */
  | { kind: "filter"; value: string; previous: string }
  /** `/` in the journal: the search, applied as it is typed (jumping to the newest match); `previous` comes back on esc. */
  | { kind: "search"; value: string; previous: string }
  | { kind: "confirm-cancel"; loopId: string }
  /** `n`: a new loop from a local PRD file (JSON or markdown), then its repository. */
  | { kind: "new-prd"; value: string }
  | { kind: "new-repo"; prdPath: string; value: string }
  /** `:`: a view's name (`loops`, `audit`, `cost`), applied on enter. */
  | { kind: "command"; value: string }
  | { kind: "cancel-reason" | "retry-reason" | "steer" | "answer"; loopId: string; value: string };

interface StatusLine {
  text: string;
  level: "info" | "error";
  at: number;
}

type View = { kind: "table" } | { kind: "detail"; loopId: string } | { kind: "audit" } | { kind: "cost" };

/** The views `:` switches to. */
export const VIEW_NAMES = ["loops", "audit", "cost"] as const;
export type ViewName = (typeof VIEW_NAMES)[number];

/** `cost.summary`: totals over every loop. */
interface CostTotals {
  loops: number;
  inputTokens: number;
  outputTokens: number;
  usd: number;
}

/** A list the API answered, or why it did not; `at` is when it answered. */
export type Fetched<T> = { value: T; at: number } | { error: string; at: number };

/** `loops.stats`, polled: live schedulers and the queue's depth, or why the last poll failed. */
export type ClusterInfo = { schedulers: number; queueDepth: number } | { error: string };

export interface TuiState {
  now: number;
  rows: number;
  columns: number;
  loops: ReadonlyMap<string, Loop>;
  /** False until the watch's snapshot (or its first change) arrived. */
  loaded: boolean;
  connection: Connection;
  view: View;
  /** The selected loop, by id so that it stays selected while loops come and go. */
  selectedId?: string;
  /** Its row when last seen: the selection falls back to this row when the loop leaves the list. */
  selectedIndex: number;
  /** First table row on screen. */
  tableTop: number;
  filter: string;
  prompt?: Prompt;
  help: boolean;
  journal?: JournalView;
  journalConnection: Connection;
  journalLimit: number;
  status?: StatusLine;
  /** The latest handoff of the loop in the detail view, once `handoffs.list` answered. */
  handoff?: { loopId: string; handoff: Handoff | undefined };
  /** The audit view's events, newest first (`audit.list`), refreshed while the view is open. */
  audit?: Fetched<readonly AuditEvent[]>;
  /** The cost view's totals (`cost.summary`), refreshed while the view is open. */
  cost?: Fetched<CostTotals>;
  /** Undefined until the first `loops.stats` answer. */
  cluster?: ClusterInfo;
}

type WatchEvent = { type: "put"; loop: Loop } | { type: "delete"; id: string };

export type Action =
  | { type: "watch"; event: WatchEvent }
  | { type: "connection"; connected: boolean; at: number; error?: string }
  | { type: "journal"; entry: JournalEntry }
  | { type: "journalConnection"; loopId: string; connected: boolean; at: number; error?: string }
  | { type: "tick"; now: number }
  | { type: "resize"; rows: number; columns: number }
  | { type: "move"; delta: number }
  | { type: "moveTo"; index: "first" | "last" }
  | { type: "open" }
  | { type: "back" }
  | { type: "scroll"; delta: number }
  | { type: "scrollTo"; end: "top" | "bottom" }
  | { type: "toggleFollow" }
  | { type: "help"; open: boolean }
  | { type: "prompt"; prompt: Prompt | undefined }
  | { type: "setFilter"; value: string }
  | { type: "status"; text: string; level: "info" | "error"; at: number }
  | { type: "cluster"; info: ClusterInfo }
  | { type: "journalSearch"; value: string }
  | { type: "switchView"; to: ViewName }
  | { type: "auditLoaded"; result: Fetched<readonly AuditEvent[]> }
  | { type: "costLoaded"; result: Fetched<CostTotals> }
  | { type: "journalMatch"; direction: "older" | "newer" }
  | { type: "handoff"; loopId: string; handoff: Handoff | undefined };

/** Rows around the table: header (4), table heading (1), status and prompt lines (2). */
const TABLE_CHROME_ROWS = 7;
/**
 * Rows around the journal in the detail view: header (4), loop summary (8), journal heading (1),
 * status (2); the stories panel's rows come on top.
 */
const DETAIL_CHROME_ROWS = 15;
/** Status messages disappear after this long. */
const STATUS_TTL_MS = 10_000;
/** The header says "reconnected" this long after a reconnection. */
export const RECONNECTED_NOTICE_MS = 30_000;

export function initialState(options: {
  now: number;
  rows?: number;
  columns?: number;
  journalLimit?: number;
}): TuiState {
  return {
    now: options.now,
    rows: options.rows ?? 24,
    columns: options.columns ?? 80,
    loops: new Map(),
    loaded: false,
    connection: { status: "connecting" },
    view: { kind: "table" },
    selectedIndex: 0,
    tableTop: 0,
    filter: "",
    help: false,
    journalConnection: { status: "connecting" },
    journalLimit: options.journalLimit ?? 2_000,
  };
}

export function tableHeight(state: Pick<TuiState, "rows">): number {
  return Math.max(3, state.rows - TABLE_CHROME_ROWS);
}

export function journalHeight(state: Pick<TuiState, "rows" | "view" | "loops" | "handoff">): number {
  return Math.max(3, state.rows - DETAIL_CHROME_ROWS - storiesPanelHeight(state));
}

/** The stories panel's rows in the detail view (0 on the table, or when the loop has nothing to show). */
export function storiesPanelHeight(state: Pick<TuiState, "view" | "loops" | "handoff">): number {
  if (state.view.kind !== "detail") return 0;
  const handoff = state.handoff?.loopId === state.view.loopId ? state.handoff.handoff : undefined;
  return storiesPanelRows(state.loops.get(state.view.loopId), handoff);
}

// ---- selectors ----

/** Case-insensitive substring match on id, title, repository URL and state. */
function matchesFilter(loop: Loop, filter: string): boolean {
  const f = filter.trim().toLowerCase();
  if (!f) return true;
  return [loop.id, loop.spec.title ?? "", loop.spec.repo.url, loop.status.state].some((field) =>
    field.toLowerCase().includes(f),
  );
}

let visibleCache: { loops: ReadonlyMap<string, Loop>; filter: string; result: readonly Loop[] } | undefined;

/** The table's rows: filtered, newest first (ids are time-ordered ULIDs). Memoized per (loops, filter). */
export function visibleLoops(state: Pick<TuiState, "loops" | "filter">): readonly Loop[] {
  if (visibleCache && visibleCache.loops === state.loops && visibleCache.filter === state.filter)
    return visibleCache.result;
  const result = [...state.loops.values()]
    .filter((l) => matchesFilter(l, state.filter))
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  visibleCache = { loops: state.loops, filter: state.filter, result };
  return result;
}

/** The selected row: the selected loop's row, else the last row it was seen at (clamped). */
export function selectedRow(state: TuiState): number {
  const rows = visibleLoops(state);
  if (rows.length === 0) return 0;
  if (state.selectedId !== undefined) {
    const i = rows.findIndex((l) => l.id === state.selectedId);
    if (i >= 0) return i;
  }
  return Math.min(state.selectedIndex, rows.length - 1);
}

export function selectedLoop(state: TuiState): Loop | undefined {
  return visibleLoops(state)[selectedRow(state)];
}

/** The loop actions (`c`, `r`, `s`) apply to: the one in the detail view, else the selected row. */
export function targetLoopId(state: TuiState): string | undefined {
  return state.view.kind === "detail" ? state.view.loopId : selectedLoop(state)?.id;
}

/** Loops per state, over all loops (the filter does not change the header). */
export function countsByState(loops: ReadonlyMap<string, Loop>): Record<LoopState, number> {
  const counts = Object.fromEntries(LOOP_STATES.map((s) => [s, 0])) as Record<LoopState, number>;
  for (const loop of loops.values()) counts[loop.status.state] += 1;
  return counts;
}

// ---- the reducer ----

/** Applies a batch of actions. Consecutive watch events and journal entries are applied in one copy each. */
export function reduceAll(state: TuiState, actions: readonly Action[]): TuiState {
  let s = state;
  let i = 0;
  while (i < actions.length) {
    const action = actions[i];
    if (!action) break;
    if (action.type === "watch") {
      const events: WatchEvent[] = [];
      for (let a = actions[i]; a?.type === "watch"; a = actions[++i]) events.push(a.event);
      s = applyWatch(s, events);
    } else if (action.type === "journal") {
      const entries: JournalEntry[] = [];
      for (let a = actions[i]; a?.type === "journal"; a = actions[++i]) entries.push(a.entry);
      s = s.journal ? { ...s, journal: appendEntries(s.journal, entries) } : s;
    } else {
      s = reduce(s, action);
      i++;
    }
  }
  return keepSelectionVisible(s);
}

export function reduce(state: TuiState, action: Action): TuiState {
  switch (action.type) {
    case "watch":
      return keepSelectionVisible(applyWatch(state, [action.event]));
    case "journal":
      return state.journal ? { ...state, journal: appendEntries(state.journal, [action.entry]) } : state;
    case "connection":
      return {
        ...state,
        loaded: state.loaded || action.connected,
        connection: nextConnection(state.connection, action.connected, action.at, action.error),
      };
    case "journalConnection":
      if (state.journal?.loopId !== action.loopId) return state;
      return {
        ...state,
        journalConnection: nextConnection(state.journalConnection, action.connected, action.at, action.error),
      };
    case "tick": {
      const expired = state.status && action.now - state.status.at >= STATUS_TTL_MS;
      return { ...state, now: action.now, status: expired ? undefined : state.status };
    }
    case "resize":
      return keepSelectionVisible({ ...state, rows: action.rows, columns: action.columns });
    case "move": {
      const rows = visibleLoops(state);
      if (rows.length === 0) return state;
      const index = Math.max(0, Math.min(rows.length - 1, selectedRow(state) + action.delta));
      return keepSelectionVisible({ ...state, selectedIndex: index, selectedId: rows[index]?.id });
    }
    case "moveTo": {
      const rows = visibleLoops(state);
      const index = action.index === "first" ? 0 : Math.max(0, rows.length - 1);
      return keepSelectionVisible({ ...state, selectedIndex: index, selectedId: rows[index]?.id });
    }
    case "open": {
      const loop = selectedLoop(state);
      if (!loop) return state;
      return {
        ...state,
        view: { kind: "detail", loopId: loop.id },
        selectedId: loop.id,
        journal: emptyJournal(loop.id, state.journalLimit),
        journalConnection: { status: "connecting" },
        handoff: undefined,
      };
    }
    case "back":
      return {
        ...state,
        view: { kind: "table" },
        journal: undefined,
        journalConnection: { status: "connecting" },
        handoff: undefined,
      };
    case "scroll":
      return state.journal
        ? { ...state, journal: scrollJournal(state.journal, action.delta, journalHeight(state)) }
        : state;
    case "scrollTo":
      if (!state.journal) return state;
      return {
        ...state,
        journal:
          action.end === "bottom"
            ? setFollow(state.journal, true)
            : scrollJournal(state.journal, -state.journal.entries.length, journalHeight(state)),
      };
    case "toggleFollow":
      return state.journal ? { ...state, journal: setFollow(state.journal, !state.journal.follow) } : state;
    case "help":
      return { ...state, help: action.open };
    case "prompt": {
      const filter = action.prompt?.kind === "filter" ? action.prompt.value : state.filter;
      const next = keepSelectionVisible({ ...state, prompt: action.prompt, filter });
      return action.prompt?.kind === "search" && action.prompt.value !== state.journal?.search
        ? reduce(next, { type: "journalSearch", value: action.prompt.value })
        : next;
    }
    case "journalSearch": {
      if (!state.journal) return state;
      const r = searchJournal(state.journal, action.value);
      return r.found
        ? { ...state, journal: r.view }
        : {
            ...state,
            journal: r.view,
            status: { text: `no line matches /${action.value}`, level: "error", at: state.now },
          };
    }
    case "journalMatch": {
      if (!state.journal?.search) return state;
      const r = nextMatch(state.journal, action.direction);
      return r.found
        ? { ...state, journal: r.view }
        : {
            ...state,
            status: {
              text: `no ${action.direction} line matches /${state.journal.search}`,
              level: "error",
              at: state.now,
            },
          };
    }
    case "setFilter":
      return keepSelectionVisible({ ...state, filter: action.value });
    case "status":
      return { ...state, status: { text: action.text, level: action.level, at: action.at } };
    case "cluster":
      return { ...state, cluster: action.info };
    case "switchView":
      if (action.to === "loops") return reduce(state, { type: "back" });
      return {
        ...state,
        view: { kind: action.to },
        journal: undefined,
        journalConnection: { status: "connecting" },
        handoff: undefined,
      };
    case "auditLoaded":
      return { ...state, audit: action.result };
    case "costLoaded":
      return { ...state, cost: action.result };
    case "handoff":
      if (state.view.kind !== "detail" || state.view.loopId !== action.loopId) return state;
      return { ...state, handoff: { loopId: action.loopId, handoff: action.handoff } };
  }
}

function applyWatch(state: TuiState, events: readonly WatchEvent[]): TuiState {
  if (events.length === 0) return state;
  const loops = new Map(state.loops);
  for (const e of events) {
    if (e.type === "put") loops.set(e.loop.id, e.loop);
    else loops.delete(e.id);
  }
  return { ...state, loops, loaded: true };
}

function nextConnection(prev: Connection, connected: boolean, at: number, error: string | undefined): Connection {
  if (connected) {
    if (prev.status === "connected") return prev;
    return prev.status === "reconnecting"
      ? { status: "connected", since: at, lostAt: prev.lostAt }
      : { status: "connected", since: at };
  }
  switch (prev.status) {
    case "connected":
      return { status: "reconnecting", lostAt: at, error };
    case "reconnecting":
      return { ...prev, error: error ?? prev.error };
    case "connecting":
      return { status: "connecting", error: error ?? prev.error };
  }
}

/** Re-resolves the selection against the current rows and scrolls the table so that it is on screen. */
function keepSelectionVisible(state: TuiState): TuiState {
  const rows = visibleLoops(state);
  const index = selectedRow(state);
  const height = tableHeight(state);
  let top = Math.min(state.tableTop, Math.max(0, rows.length - height));
  if (index < top) top = index;
  if (index >= top + height) top = index - height + 1;
  const selectedId = rows[index]?.id ?? state.selectedId;
  if (top === state.tableTop && index === state.selectedIndex && selectedId === state.selectedId) return state;
  return { ...state, tableTop: top, selectedIndex: index, selectedId };
}
