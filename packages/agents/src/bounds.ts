import { KiB, LIMITS, MiB } from "@smith/core";

/**
 * How much of an agent's output one event or result may carry. Every event ends up in the
 * journal (16 KiB per message, 64 KiB per entry, etcd's 1.5 MiB per request), and an agent can
 * print megabytes in one tool result, so adapters cut here rather than leave it to the journal.
 */
export const BOUNDS = {
  /** One stdout/stderr line as read from the process; longer lines are cut with a marker. */
  lineBytes: 1 * MiB,
  /** `text` events: what the agent said (the head is kept). */
  textBytes: 8 * KiB,
  /** `tool_use` input summaries: a path, a command, a query (the head is kept). */
  toolInputBytes: 512,
  /** `tool_result` output (the tail is kept: errors and test summaries come last). */
  toolOutputBytes: 4 * KiB,
  /** `log` events: one raw line the adapter did not interpret (the head is kept). */
  logLineBytes: 4 * KiB,
  /** The final message in `AgentResult.summary` (the head is kept). */
  summaryBytes: LIMITS.journalMessageBytes,
  /** `AgentResult.stderrTail`. */
  stderrTailBytes: LIMITS.outputTailBytes,
} as const;

/**
 * Keeps the first `maxBytes` bytes (UTF-8) of `text`, followed by an explicit marker that says
 * how much was cut: the counterpart of core's `tailText` for values whose opening matters.
 */
export function headText(text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  const markerReserve = 48;
  let end = Math.max(0, maxBytes - markerReserve);
  // Never end inside a multi-byte character (UTF-8 continuation bytes are 10xxxxxx).
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end)) + ` [… ${bytes.length - end} bytes truncated …]`;
}
