import type { AgentLimit } from "@smith/core";
import { BOUNDS, headText } from "./bounds.ts";

/**
 * Usage- and rate-limit signals in the agents' own words (docs/agents.md#usage-and-rate-limits).
 * Pure: text in, an AgentLimit (or nothing) out; `now` anchors reset times given as a clock time.
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

function limit(kind: AgentLimit["kind"], message: string, resetAt?: Date): AgentLimit {
  return { kind, message: headText(message.trim(), BOUNDS.logLineBytes), ...(resetAt ? { resetAt } : {}) };
}

/** A Unix time in seconds (or milliseconds) as a Date; undefined when it is not a plausible one. */
export function epochDate(value: unknown): Date | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0) return undefined;
  const ms = n < 1e11 ? n * 1000 : n;
  return new Date(ms);
}

/** The offset of `timeZone` from UTC at instant `ms` (local minus UTC, in ms); undefined for an unknown zone. */
function zoneOffset(ms: number, timeZone: string): number | undefined {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    }).formatToParts(new Date(ms));
  } catch {
    return undefined;
  }
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? NaN);
  const local = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Number.isNaN(local) ? undefined : local - Math.floor(ms / 1000) * 1000;
}

/** The calendar date of `ms` in `timeZone` (or this process's zone when undefined). */
function dateIn(ms: number, timeZone: string | undefined): { y: number; m: number; d: number } | undefined {
  if (timeZone === undefined) {
    const t = new Date(ms);
    return { y: t.getFullYear(), m: t.getMonth(), d: t.getDate() };
  }
  const off = zoneOffset(ms, timeZone);
  if (off === undefined) return undefined;
  const t = new Date(ms + off);
  return { y: t.getUTCFullYear(), m: t.getUTCMonth(), d: t.getUTCDate() };
}

/** The instant of a wall-clock time in `timeZone` (this process's zone when undefined). */
function instant(
  y: number,
  m: number,
  d: number,
  h: number,
  mi: number,
  timeZone: string | undefined,
): number | undefined {
  if (timeZone === undefined) return new Date(y, m, d, h, mi).getTime();
  const guess = Date.UTC(y, m, d, h, mi);
  const first = zoneOffset(guess, timeZone);
  if (first === undefined) return undefined;
  // Once more at the corrected instant: right across a DST change.
  const second = zoneOffset(guess - first, timeZone) ?? first;
  return guess - second;
}

/**
 * A reset time said as a clock time: `3pm`, `3:30 PM`, `15:00`, with an optional date
 * (`Apr 23 at 4pm`, `Dec 5th, 2026 3:15 PM`). Without a date it is the next such time after
 * `now`; without a year, this year's date unless that is over a day past.
 */
export function clockReset(text: string, now: Date, timeZone?: string): Date | undefined {
  const m =
    /(?:(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s*(\d{4})?\s*(?:at\s+)?)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b/i.exec(
      text,
    );
  if (!m) return undefined;
  let hour = Number(m[4]);
  const minute = m[5] !== undefined ? Number(m[5]) : 0;
  const ampm = m[6]?.toLowerCase();
  if (ampm === undefined && m[5] === undefined) return undefined;
  if (ampm === "pm" && hour < 12) hour += 12;
  if (ampm === "am" && hour === 12) hour = 0;
  if (hour > 23 || minute > 59) return undefined;
  const today = dateIn(now.getTime(), timeZone);
  if (!today) return undefined;
  if (m[1] !== undefined) {
    const month = MONTHS.indexOf(m[1].toLowerCase());
    const day = Number(m[2]);
    let year = m[3] !== undefined ? Number(m[3]) : today.y;
    let at = instant(year, month, day, hour, minute, timeZone);
    if (at !== undefined && m[3] === undefined && at < now.getTime() - 86_400_000) {
      year++;
      at = instant(year, month, day, hour, minute, timeZone);
    }
    return at === undefined ? undefined : new Date(at);
  }
  let at = instant(today.y, today.m, today.d, hour, minute, timeZone);
  if (at === undefined) return undefined;
  if (at <= now.getTime()) at = instant(today.y, today.m, today.d + 1, hour, minute, timeZone);
  return at === undefined ? undefined : new Date(at);
}

/**
 * Claude Code's words for a limit, from a failed run's `result` text (or an assistant message):
 * - `Claude AI usage limit reached|1753441200` (1.x: the reset as Unix seconds after the bar);
 * - `You've hit your limit · resets 3pm (America/New_York)`, `… resets Apr 23 at 4pm (Europe/Berlin)`
 *   (2.x; also "usage limit reached … reset at …");
 * - `API Error: 429 {"type":"error","error":{"type":"rate_limit_error",…}}`;
 * - `API Error: 529 … overloaded_error`, `Overloaded`.
 * `apiStatus` is the result's `api_error_status` when the CLI gives one.
 */
export function claudeLimit(text: string, now: Date, apiStatus?: number): AgentLimit | undefined {
  const bar = /usage limit reached\|(\d{9,13})/i.exec(text);
  if (bar) return limit("usage-limit", text.replace(/\|\d+/, ""), epochDate(bar[1]));
  if (/hit your (?:usage )?limit|usage limit (?:reached|exceeded)|out of (?:extra )?usage/i.test(text)) {
    const reset = /resets?\s+(?:at\s+)?([^()\n·]*?)\s*\(([^)\s]+)\)/i.exec(text);
    const at = reset ? clockReset(reset[1] ?? "", now, reset[2]) : undefined;
    return limit("usage-limit", text, at);
  }
  if (apiStatus === 429 || /API Error:?\s*\(?429\b|rate_limit_error/i.test(text)) return limit("rate-limit", text);
  if (apiStatus === 529 || apiStatus === 503 || /API Error:?\s*\(?529\b|overloaded_error/i.test(text))
    return limit("overloaded", text);
  return undefined;
}

/**
 * Codex's words for a limit (codex-rs `CodexErr` messages, in `error` events and `turn.failed`):
 * - `You've hit your usage limit. … Try again at 3:15 PM.` / `… try again at Dec 5th, 2026 3:15 PM.`
 *   (a local clock time of the machine Codex runs on: the replica's) / `… Try again later.`;
 * - `Quota exceeded. Check your plan and billing details.` (API key out of credit: no reset time);
 * - `exceeded retry limit, last status: 429 Too Many Requests`;
 * - `We're currently experiencing high demand, which may cause temporary errors.`, a last status
 *   of 503 or 529.
 */
export function codexLimit(text: string, now: Date): AgentLimit | undefined {
  if (/hit your usage limit|usage limit reached|usage_limit_reached/i.test(text)) {
    const at = /try again at\s+(.+?)\.?\s*$/i.exec(text.split("\n")[0] ?? text);
    return limit("usage-limit", text, at ? clockReset(at[1] ?? "", now) : undefined);
  }
  if (/quota exceeded|insufficient_quota/i.test(text)) return limit("usage-limit", text);
  if (/\b429\b|too many requests|rate limit/i.test(text)) return limit("rate-limit", text);
  if (/high demand|overloaded|last status: (?:503|529)\b/i.test(text)) return limit("overloaded", text);
  return undefined;
}
