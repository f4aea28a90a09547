/**
 * Size limits. etcd refuses any request over 1.5 MiB (its default --max-request-bytes), and an
 * oversized request fails with an opaque gRPC error; every bound below keeps a request well under
 * it so that the caller gets a typed error naming the limit instead.
 */
export const KiB = 1024;
export const MiB = 1024 * KiB;

/** etcd's default --max-request-bytes. */
export const ETCD_MAX_REQUEST_BYTES = 1.5 * MiB;
/** What we allow one transaction to carry, leaving headroom for keys and protobuf framing. */
export const TXN_BUDGET_BYTES = 1 * MiB;

export const LIMITS = {
  /** A PRD document (inline in a loop spec, or a file in the repo). */
  prdBytes: 512 * KiB,
  /** One journal entry's message. */
  journalMessageBytes: 16 * KiB,
  /** One journal entry, serialized (message, command, metadata). */
  journalEntryBytes: 64 * KiB,
  /** Entries in one journal append call. */
  journalBatchEntries: 500,
  /** Command output kept in a journal entry (the tail; earlier output is marked truncated). */
  outputTailBytes: 8 * KiB,
  /** An operator steering message. */
  steerMessageBytes: 8 * KiB,
  /** Loops in one createBatch call. */
  batchLoops: 100,
  /** A reason given for cancel / retry / override. */
  reasonBytes: 1 * KiB,
  /** A handoff document, serialized. */
  handoffBytes: 256 * KiB,
  /** A loop record, serialized (the spec carries the inline PRD). */
  loopBytes: 700 * KiB,
  /** Page size for list calls. */
  pageSize: 500,
} as const;

/**
 * Keeps the last `maxBytes` bytes (UTF-8) of `text`, prefixed with an explicit marker that says
 * how much was cut, so a bounded value never silently loses its head.
 */
export function tailText(text: string, maxBytes: number = LIMITS.outputTailBytes): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  const markerReserve = 48;
  let start = bytes.length - Math.max(0, maxBytes - markerReserve);
  // Never start inside a multi-byte character (UTF-8 continuation bytes are 10xxxxxx).
  while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
  return `[… ${start} bytes truncated …]\n` + new TextDecoder().decode(bytes.subarray(start));
}
