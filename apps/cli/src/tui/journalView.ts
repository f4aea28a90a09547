import type { JournalEntry } from "@smith/core";

/** How many journal lines the detail view keeps by default; older ones are dropped. */
const DEFAULT_JOURNAL_LIMIT = 2_000;

/**
 * The journal of the loop on screen: the newest `limit` entries (a ring buffer: appending past
 * the limit drops the oldest), whether the view follows new entries, and where it is scrolled.
 * A journal can grow to millions of entries while the TUI runs for days; only this window is
 * ever held in memory.
 */
export interface JournalView {
  loopId: string;
  limit: number;
  /** Oldest first; at most `limit`. */
  entries: readonly JournalEntry[];
  /** Entries dropped from the front so far (shown as "N older lines dropped"). */
  dropped: number;
  /** On: the view shows the newest entries as they arrive. */
  follow: boolean;
  /** With follow off: the seq of the bottom line on screen; it stays put while entries arrive. */
  anchorSeq?: number;
  /** `/` in the journal: lines whose message contains it (case-insensitive) are marked. */
  search?: string;
  /** The match the view jumped to last (`n`/`N` go on from it). */
  matchSeq?: number;
}

export function emptyJournal(loopId: string, limit: number = DEFAULT_JOURNAL_LIMIT): JournalView {
  return { loopId, limit: Math.max(1, limit), entries: [], dropped: 0, follow: true };
}

/**
 * Appends entries in one copy (the caller batches them), skipping any at or below the last seq
 * (a resumed subscription never repeats one, but the view must not show a line twice if it did).
 */
export function appendEntries(view: JournalView, incoming: readonly JournalEntry[]): JournalView {
  const lastSeq = view.entries.at(-1)?.seq ?? 0;
  const fresh = incoming.filter((e) => e.seq > lastSeq && e.loopId === view.loopId);
  if (fresh.length === 0) return view;
  // Only the newest `limit` of a large batch can survive: do not copy the rest at all.
  const kept = fresh.length > view.limit ? fresh.slice(-view.limit) : fresh;
  const all = view.entries.concat(kept);
  const over = Math.max(0, all.length - view.limit);
  const entries = over > 0 ? all.slice(over) : all;
  const dropped = view.dropped + (fresh.length - kept.length) + over;
  const first = entries[0];
  // A scrolled view whose bottom line was dropped sticks to the oldest line kept.
  const anchorSeq = view.anchorSeq !== undefined && first && view.anchorSeq < first.seq ? first.seq : view.anchorSeq;
  return { ...view, entries, dropped, anchorSeq };
}

/** Index (in `entries`) of the bottom line on screen. */
function bottomIndex(view: JournalView): number {
  const last = view.entries.length - 1;
  if (view.follow || view.anchorSeq === undefined) return last;
  const anchor = view.anchorSeq;
  const i = view.entries.findIndex((e) => e.seq >= anchor);
  return i < 0 ? last : i;
}

/**
 * Moves the view by `delta` lines (negative: towards older lines) and turns follow off, the way
 * `less +F` stops following when you scroll. `height` keeps the top from scrolling past the first line.
 */
export function scrollJournal(view: JournalView, delta: number, height: number): JournalView {
  if (view.entries.length === 0) return { ...view, follow: false, anchorSeq: undefined };
  const minBottom = Math.min(view.entries.length - 1, Math.max(0, height - 1));
  const target = Math.max(minBottom, Math.min(view.entries.length - 1, bottomIndex(view) + delta));
  return { ...view, follow: false, anchorSeq: view.entries[target]?.seq };
}

/** Back to the newest line and following, or (off) frozen where it is. */
export function setFollow(view: JournalView, follow: boolean): JournalView {
  if (follow) return { ...view, follow: true, anchorSeq: undefined };
  return { ...view, follow: false, anchorSeq: view.entries.at(-1)?.seq };
}

export interface JournalWindow {
  lines: readonly JournalEntry[];
  /** Lines kept above / below the window. */
  above: number;
  below: number;
}

/** The `height` lines on screen. */
export function journalWindow(view: JournalView, height: number): JournalWindow {
  if (view.entries.length === 0 || height <= 0) return { lines: [], above: 0, below: 0 };
  const bottom = bottomIndex(view);
  const top = Math.max(0, bottom - height + 1);
  const end = Math.min(view.entries.length, top + height);
  return { lines: view.entries.slice(top, end), above: top, below: view.entries.length - end };
}

/** Does the entry match the search (its message, case-insensitive)? */
export function entryMatches(entry: JournalEntry, search: string | undefined): boolean {
  const q = search?.toLowerCase();
  return Boolean(q) && entry.message.toLowerCase().includes(q as string);
}

/** How many kept lines match the view's search. */
export function matchCount(view: JournalView): number {
  if (!view.search) return 0;
  let n = 0;
  for (const e of view.entries) if (entryMatches(e, view.search)) n++;
  return n;
}

/**
 * Sets the search and jumps to its newest match (the view stops following and puts that line at
 * the bottom); an empty search clears it and leaves the view where it is. `found: false` when
 * nothing matches (the view does not move).
 */
export function searchJournal(view: JournalView, search: string): { view: JournalView; found: boolean } {
  if (!search) return { view: { ...view, search: undefined, matchSeq: undefined }, found: true };
  const cleared = { ...view, search, matchSeq: undefined };
  for (let i = view.entries.length - 1; i >= 0; i--) {
    const e = view.entries[i];
    if (e && entryMatches(e, search))
      return { view: { ...cleared, follow: false, anchorSeq: e.seq, matchSeq: e.seq }, found: true };
  }
  return { view: cleared, found: false };
}

/**
 * The next match older (up) or newer (down) than the current one (or than the bottom line when
 * there is none yet). `found: false` when there is none that way: the view stays.
 */
export function nextMatch(view: JournalView, direction: "older" | "newer"): { view: JournalView; found: boolean } {
  if (!view.search) return { view, found: false };
  const from = view.matchSeq ?? view.entries[bottomIndex(view)]?.seq ?? 0;
  const step = direction === "older" ? -1 : 1;
  let i = view.entries.findIndex((e) => e.seq >= from);
  if (i < 0) i = view.entries.length;
  if (direction === "newer" && view.entries[i]?.seq === from) i += step;
  else if (direction === "older") i += step;
  for (; i >= 0 && i < view.entries.length; i += step) {
    const e = view.entries[i];
    if (e && entryMatches(e, view.search))
      return { view: { ...view, follow: false, anchorSeq: e.seq, matchSeq: e.seq }, found: true };
  }
  return { view, found: false };
}
