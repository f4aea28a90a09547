/**
 * The etcd keyspace (DESIGN.md). Every key lives under one prefix (default `/smith/v1`), so
 * several installations (or test runs) can share an etcd cluster.
 */
export const DEFAULT_PREFIX = "/smith/v1";

/** Journal sequence numbers are zero-padded so that key order is numeric order. */
export function padSeq(n: number, width = 20): string {
  return String(n).padStart(width, "0");
}

/** Higher priority sorts first in the queue: the key carries 999 - priority. */
function queuePriorityPart(priority: number): string {
  return String(999 - priority).padStart(3, "0");
}

export class Keyspace {
  readonly root: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.root = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  }

  private k(...parts: string[]): string {
    return [this.root, ...parts].join("/");
  }

  loopsPrefix(): string {
    return this.k("loops", "");
  }
  loop(id: string): string {
    return this.k("loops", id);
  }

  queuePrefix(): string {
    return this.k("queue", "");
  }
  queue(priority: number, enqueuedAtMs: number, id: string): string {
    return this.k("queue", queuePriorityPart(priority), padSeq(enqueuedAtMs, 15), id);
  }

  claimsPrefix(): string {
    return this.k("claims", "");
  }
  claim(id: string): string {
    return this.k("claims", id);
  }

  /** The replica lock: its value carries the attempt (the fencing token). */
  lock(id: string): string {
    return this.k("locks", id);
  }
  /** Heartbeats are kept apart from the lock so that a heartbeat never conflicts with a fenced write. */
  heartbeat(id: string): string {
    return this.k("heartbeats", id);
  }

  slotsPrefix(key?: string): string {
    return key === undefined ? this.k("slots", "") : this.k("slots", encodeKeyPart(key), "");
  }
  slot(key: string, n: number): string {
    return this.k("slots", encodeKeyPart(key), String(n));
  }

  journalPrefix(loopId: string): string {
    return this.k("journal", loopId, "");
  }
  journal(loopId: string, seq: number): string {
    return this.k("journal", loopId, padSeq(seq));
  }
  /** The last sequence number written for a loop (the append counter). */
  journalHead(loopId: string): string {
    return this.k("journal-head", loopId);
  }
  /** Entry id → seq, making appends idempotent. */
  journalId(loopId: string, entryId: string): string {
    return this.k("journal-ids", loopId, encodeKeyPart(entryId));
  }
  journalIdsPrefix(loopId: string): string {
    return this.k("journal-ids", loopId, "");
  }

  handoffsPrefix(loopId: string): string {
    return this.k("handoffs", loopId, "");
  }
  handoff(loopId: string, attempt: number): string {
    return this.k("handoffs", loopId, padSeq(attempt, 6));
  }

  overridesPrefix(loopId: string): string {
    return this.k("overrides", loopId, "");
  }
  override(loopId: string, seq: number): string {
    return this.k("overrides", loopId, padSeq(seq, 10));
  }

  auditPrefix(): string {
    return this.k("audit", "");
  }
  /** `audit/<yyyy>/<mm>/<dd>/<eventId>`: a time range is a key range. */
  audit(at: Date, eventId: string): string {
    const y = String(at.getUTCFullYear()).padStart(4, "0");
    const m = String(at.getUTCMonth() + 1).padStart(2, "0");
    const d = String(at.getUTCDate()).padStart(2, "0");
    return this.k("audit", y, m, d, eventId);
  }
  auditDayPrefix(at: Date): string {
    return this.audit(at, "");
  }
  /** Per-loop index of audit events, written in the same txn as the event. */
  auditByLoopPrefix(loopId: string): string {
    return this.k("audit-by-loop", loopId, "");
  }
  auditByLoop(loopId: string, eventId: string): string {
    return this.k("audit-by-loop", loopId, eventId);
  }

  idempotency(key: string): string {
    return this.k("idempotency", encodeKeyPart(key));
  }

  /** `schedulers/<id>`: one key per live scheduler session, bound to its lease. */
  schedulersPrefix(): string {
    return this.k("schedulers", "");
  }
  scheduler(id: string): string {
    return this.k("schedulers", id);
  }

  /** Replay protection for inbound webhooks: one key per delivery id. */
  /** `polls/<name>`: when a periodic job shared by every API process (e.g. a GitHub repository's poll) is next due. */
  pollSlot(name: string): string {
    return this.k("polls", encodeKeyPart(name));
  }

  webhookDelivery(id: string): string {
    return this.k("webhooks", "deliveries", encodeKeyPart(id));
  }

  /**
   * `outbox/<loop>/<item>`: something to tell outside Smith (the source issue of a flatlined
   * loop), written in the txn of the transition that calls for it and deleted once told.
   */
  outboxPrefix(loopId?: string): string {
    return loopId === undefined ? this.k("outbox", "") : this.k("outbox", loopId, "");
  }
  outbox(loopId: string, item: string): string {
    return this.k("outbox", loopId, encodeKeyPart(item));
  }
  /** `notifications/<loop>/<transition>`: one per announced transition, created once by whichever notifier gets there first. */
  notificationsPrefix(loopId?: string): string {
    return loopId === undefined ? this.k("notifications", "") : this.k("notifications", loopId, "");
  }
  notification(loopId: string, transition: string): string {
    return this.k("notifications", loopId, encodeKeyPart(transition));
  }

  /**
   * `spend/<yyyy-mm-dd>/<concurrencyKey>/<loopId>`: USD a loop spent on one UTC day (the per-key
   * daily budget sums one day's range of a key; days sort as strings, so old days prune as a range).
   */
  spendPrefix(day?: string, concurrencyKey?: string): string {
    if (day === undefined) return this.k("spend", "");
    if (concurrencyKey === undefined) return this.k("spend", day, "");
    return this.k("spend", day, encodeKeyPart(concurrencyKey), "");
  }
  spend(day: string, concurrencyKey: string, loopId: string): string {
    return this.k("spend", day, encodeKeyPart(concurrencyKey), loopId);
  }

  tokensPrefix(): string {
    return this.k("tokens", "");
  }
  token(id: string): string {
    return this.k("tokens", id);
  }

  /** `credentials/<name>`: metadata and the value sealed with the API's credentials key. */
  credentialsPrefix(): string {
    return this.k("credentials", "");
  }
  credential(name: string): string {
    return this.k("credentials", encodeKeyPart(name));
  }
  /** The default credential for one use and scope: at most one, enforced by this key's existence. */
  credentialDefault(use: string, host: string, owner: string): string {
    return this.k("credential-defaults", use, encodeKeyPart(host), encodeKeyPart(owner));
  }
  /** Last use, kept apart from the record so that a use never conflicts with a rotation. */
  credentialUsedPrefix(): string {
    return this.k("credential-used", "");
  }
  credentialUsed(name: string): string {
    return this.k("credential-used", encodeKeyPart(name));
  }
}

/** The UTC day of `at` as `yyyy-mm-dd` (the spend keys' day). */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** Makes an arbitrary string safe as one key segment (no `/`). */
function encodeKeyPart(part: string): string {
  return encodeURIComponent(part);
}

/** The etcd range end that covers every key starting with `prefix`. */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = bytes[i] ?? 0;
    if (b < 0xff) {
      bytes[i] = b + 1;
      return bytes.subarray(0, i + 1).toString("latin1");
    }
  }
  return "\0";
}
