// Shared by this folder's tests: loops and journal entries without an API, for the pure modules.
import { JournalEntry, Loop, newId, type JournalEntryRequest, type LoopState } from "@smith/core";

const T0 = Date.parse("2026-01-02T03:04:05.000Z");

export interface LoopFields {
  id?: string;
  title?: string;
  repo?: string;
  state?: LoopState;
  done?: number;
  total?: number;
  iteration?: number;
  attempt?: number;
  usd?: number;
  createdAt?: number;
}

/** A valid loop (parsed with the core schema) with the given fields. */
export function makeLoop(f: LoopFields = {}): Loop {
  const created = new Date(f.createdAt ?? T0).toISOString();
  return Loop.parse({
    schemaVersion: 1,
    id: f.id ?? newId(f.createdAt ?? T0),
    source: { type: "direct" },
    spec: {
      title: f.title,
      repo: { url: f.repo ?? "https://example.com/acme/app.git" },
      prd: { kind: "path" },
      agent: { provider: "replay" },
    },
    priority: 100,
    concurrencyKey: "example.com_acme_app",
    status: {
      state: f.state ?? "unresolved",
      attempt: f.attempt ?? 0,
      iteration: f.iteration ?? 0,
      progress: { done: f.done ?? 0, total: f.total ?? 0 },
      createdAt: created,
      updatedAt: created,
    },
    cost: { inputTokens: 0, outputTokens: 0, usd: f.usd ?? 0 },
  });
}

/** Journal entries `from`..`to` (inclusive) of a loop. */
export function makeEntries(
  loopId: string,
  from: number,
  to: number,
  fields: Partial<JournalEntryRequest> = {},
): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (let seq = from; seq <= to; seq++) {
    out.push(
      JournalEntry.parse({
        schemaVersion: 1,
        id: `e${seq}`,
        loopId,
        seq,
        ts: new Date(T0 + seq * 1000).toISOString(),
        phase: "agent",
        actor: { type: "agent", id: "replay" },
        message: `line ${seq}`,
        correlationId: "test",
        ...fields,
      }),
    );
  }
  return out;
}
