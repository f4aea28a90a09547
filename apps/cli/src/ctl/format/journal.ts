import { visibleLine, type JournalEntry } from "@smith/core";

/**
 * One journal entry on one line: seq, time, phase, level, message (then the exit code and
 * duration of a command, when there was one). Fixed widths, so that lines that arrive one by one
 * (`logs -f`) line up. The message is the replica's or the agent's text: newlines are shown as `\n`
 * to keep one entry per line, and every other control character as an escape (`\x1b`, `\r`).
 */
export function journalLine(
  e: Pick<JournalEntry, "seq" | "ts" | "phase" | "level" | "message" | "exitCode" | "durationMs">,
): string {
  const extra = [
    e.exitCode !== undefined ? `exit ${e.exitCode}` : "",
    e.durationMs !== undefined ? `${e.durationMs} ms` : "",
  ]
    .filter(Boolean)
    .join(", ");
  const message = visibleLine(e.message) + (extra ? ` (${extra})` : "");
  return `${String(e.seq).padStart(5)} ${e.ts} ${e.phase.padEnd(9)} ${e.level.padEnd(5)} ${message}`.trimEnd();
}
