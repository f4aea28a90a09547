import { visibleLine, type JournalEntry, type Loop, type LoopState } from "@smith/core";

// Pure text formatting for the screens: no React, no terminal; each function is unit-tested.
// Text from loops and journals (titles, messages, URLs) is shown with `visibleLine`: control
// characters escaped, so that an agent's output cannot move the cursor or rewrite the screen.

/**
 * The last 8 characters of a loop id. Ids are ULIDs whose first 10 characters are a millisecond
 * timestamp, so loops created together share their prefix and differ only at the end.
 */
export function shortId(id: string): string {
  return id.slice(-8);
}

/** What the table calls a loop: its title, else its repository without scheme and `.git` (visible). */
export function loopName(loop: Loop): string {
  return visibleLine(loop.spec.title ?? repoName(loop.spec.repo.url));
}

export function repoName(url: string): string {
  return url
    .replace(/^[a-z+]+:\/\//i, "")
    .replace(/\/+$/, "")
    .replace(/\.git$/, "");
}

/** `▰▰▰▱▱ 3/5`: a bar of `width` cells, then done/total; `-` when the PRD is not read yet. */
export function progressBar(done: number, total: number, width: number): string {
  if (total <= 0) return "░".repeat(width) + " -";
  const filled = Math.max(0, Math.min(width, Math.round((done / total) * width)));
  return "█".repeat(filled) + "░".repeat(width - filled) + ` ${done}/${total}`;
}

/** `$0.00`, `$12.34`, `$1234`: two decimals until they stop fitting in a narrow column. */
export function formatCost(usd: number): string {
  return usd >= 1000 ? `$${Math.round(usd)}` : `$${usd.toFixed(2)}`;
}

/** A compact duration: `42s`, `5m`, `3h`, `2d`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** Local wall-clock time `HH:MM:SS`. */
export function clock(epochMs: number): string {
  const d = new Date(epochMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** Ink colour names per state: live work green, queued cyan, needs a person yellow, done blue, failed red, stopped grey. */
export const STATE_COLORS: Record<LoopState, string> = {
  running: "green",
  unresolved: "cyan",
  waiting: "yellow",
  synced: "blue",
  flatline: "red",
  cancelled: "gray",
};

export const LEVEL_COLORS: Record<JournalEntry["level"], string | undefined> = {
  debug: "gray",
  info: undefined,
  warn: "yellow",
  error: "red",
};

/** Pads or cuts `text` to exactly `width` columns, marking a cut with `…`. */
export function fit(text: string, width: number): string {
  if (width <= 0) return "";
  if (text.length <= width) return text.padEnd(width);
  return width === 1 ? "…" : text.slice(0, width - 1) + "…";
}

/** Like `fit`, but cuts the start (`…/acme/app`): the end of a path or URL says most. */
export function fitStart(text: string, width: number): string {
  if (width <= 0) return "";
  if (text.length <= width) return text.padEnd(width);
  return width === 1 ? "…" : "…" + text.slice(text.length - width + 1);
}

/**
 * One journal entry on one line: `seq time phase message`; a multi-line message shows its first
 * line and `↵`, with control characters escaped.
 */
export function journalLine(entry: JournalEntry): string {
  const [first = "", ...rest] = entry.message.split(/\r?\n/);
  return `${String(entry.seq).padStart(6)} ${clock(Date.parse(entry.ts))} ${entry.phase.padEnd(9)} ${visibleLine(first)}${rest.length > 0 ? " ↵" : ""}`;
}
