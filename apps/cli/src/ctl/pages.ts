import type { SmithClient } from "@smith/client";
import type { AuditEvent, JournalEntry, Loop, LoopState } from "@smith/core";

// The API's largest page (LIMITS.pageSize).
const PAGE = 500;

/** Loops newest first, following `nextCursor` until `limit` loops or the end. */
export async function listLoops(
  client: SmithClient,
  options: { states?: LoopState[]; limit?: number },
): Promise<Loop[]> {
  const loops: Loop[] = [];
  let cursor: string | undefined;
  do {
    const want = options.limit === undefined ? PAGE : Math.min(PAGE, options.limit - loops.length);
    const page = await client.loops.list.query({
      order: "desc",
      limit: want,
      ...(options.states ? { state: options.states } : {}),
      ...(cursor ? { cursor } : {}),
    });
    loops.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && (options.limit === undefined || loops.length < options.limit));
  return loops;
}

/**
 * Journal entries after `afterSeq`, in order; with `keepLast`, only the last ones. The API has
 * no way to read a journal from its end, so a tail means paging through all of it.
 */
export async function readJournal(
  client: SmithClient,
  loopId: string,
  afterSeq: number,
  keepLast?: number,
): Promise<{ entries: JournalEntry[]; lastSeq: number }> {
  if (keepLast !== undefined && keepLast <= PAGE) {
    // The end of the journal in one read, newest first, then put back in order.
    const page = await client.journal.list.query({ loopId, order: "desc", limit: Math.max(1, keepLast) });
    const entries = page.entries
      .filter((e) => e.seq > afterSeq)
      .reverse()
      .slice(-keepLast);
    return { entries: keepLast === 0 ? [] : entries, lastSeq: Math.max(afterSeq, page.entries[0]?.seq ?? afterSeq) };
  }
  let entries: JournalEntry[] = [];
  let after = afterSeq;
  for (;;) {
    const page = await client.journal.list.query({ loopId, afterSeq: after, limit: PAGE });
    entries.push(...page.entries);
    if (keepLast !== undefined && entries.length > keepLast) entries = entries.slice(entries.length - keepLast);
    after = page.entries.at(-1)?.seq ?? after;
    if (!page.more || page.entries.length === 0) return { entries, lastSeq: after };
  }
}

/** Every audit event (of one loop, or all), oldest first. */
export async function listAudit(client: SmithClient, loopId: string | undefined): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.audit.list.query({
      limit: PAGE,
      ...(loopId !== undefined ? { loopId } : {}),
      ...(cursor ? { cursor } : {}),
    });
    events.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return events;
}
