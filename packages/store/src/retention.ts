import {
  RetentionPolicy,
  SmithError,
  isFinished,
  isSmithError,
  issuePath,
  retentionVerdict,
  type AuditEventRequest,
  type LoopState,
  type RetentionPolicyInput,
} from "@smith/core";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { prefixEnd } from "./keys.ts";
import type { LoopRepository } from "./loops.ts";
import type { AuditRepository } from "./records.ts";
import { txn } from "./txn.ts";

/** Who deletes, for the audit event each deletion writes (its action names the path: `retention`, `loops.cleanup`). */
export interface DeletionAudit {
  actor: AuditEventRequest["actor"];
  action: string;
  correlationId: string;
  reason?: string;
}

export interface RetentionLoopItem {
  id: string;
  state: LoopState;
  /** When its retention clock started (finished, else last changed). */
  since: string;
}

export interface RetentionReport {
  dryRun: boolean;
  /** Deleted (or, in a dry run, that would be). */
  deleted: RetentionLoopItem[];
  /** Old enough but not deleted, and why (active; changed meanwhile). */
  skipped: (RetentionLoopItem & { why: string })[];
  /** The per-pass cap stopped the pass: more loops are due. */
  capped: boolean;
  /** Audit events deleted (or that would be), all written before `before`. */
  audit?: { deleted: number; before: string; capped: boolean };
}

export type DeleteLoopResult =
  | { id: string; outcome: "deleted"; state: LoopState }
  | { id: string; outcome: "skipped"; state: LoopState; why: string }
  | { id: string; outcome: "not_found" };

/**
 * Deletes finished loops (with everything stored for them) and old audit events, under a
 * retention policy or by id. Every deletion writes an audit event in the same txn as the
 * deletion; a pass over audit events writes one event saying how many it deleted. The scheduler's
 * retention pass and `smithctl cleanup` / `delete loop` (through the API) share these rules.
 */
export class RetentionRepository {
  private readonly ctx: StoreContext;
  private readonly loops: LoopRepository;
  private readonly audit: AuditRepository;

  constructor(ctx: StoreContext, loops: LoopRepository, audit: AuditRepository) {
    this.ctx = ctx;
    this.loops = loops;
    this.audit = audit;
  }

  /** One pass of the policy: at most `maxPerPass` loops and `maxPerPass` audit events. */
  async sweep(
    policy: RetentionPolicyInput,
    by: DeletionAudit,
    options: { dryRun?: boolean } = {},
  ): Promise<RetentionReport> {
    const parsed = RetentionPolicy.safeParse(policy);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issuePath(issue?.path ?? [], "policy");
      throw new SmithError("invalid_argument", `${field}: ${issue?.message ?? "invalid"}`, { field });
    }
    const { windows, auditMs, maxPerPass } = parsed.data;
    const dryRun = options.dryRun === true;
    const report: RetentionReport = { dryRun, deleted: [], skipped: [], capped: false };
    const now = this.ctx.now().getTime();
    const states = Object.keys(windows) as LoopState[];
    let cursor: string | undefined;
    scan: do {
      if (states.length === 0) break;
      const page = await this.loops.list({ state: states, cursor, limit: 500, order: "asc" });
      for (const loop of page.items) {
        const verdict = retentionVerdict(loop, windows, now);
        if (verdict.action === "keep") continue;
        const item = { id: loop.id, state: loop.status.state, since: new Date(verdict.since).toISOString() };
        if (verdict.action === "skip") {
          report.skipped.push({ ...item, why: verdict.why });
          continue;
        }
        if (report.deleted.length >= maxPerPass) {
          report.capped = true;
          break scan;
        }
        if (dryRun) {
          report.deleted.push(item);
          continue;
        }
        const r = await this.deleteOne(loop.id, by, { since: item.since });
        if (r.outcome === "deleted") report.deleted.push(item);
        else if (r.outcome === "skipped") report.skipped.push({ ...item, state: r.state, why: r.why });
      }
      cursor = page.nextCursor;
    } while (cursor);
    if (auditMs !== undefined) report.audit = await this.sweepAudit(now - auditMs, maxPerPass, by, dryRun);
    return report;
  }

  /** Deletes loops by id; active ones are skipped with the reason, unknown ones reported. */
  async deleteLoops(ids: readonly string[], by: DeletionAudit): Promise<DeleteLoopResult[]> {
    const out: DeleteLoopResult[] = [];
    for (const id of new Set(ids)) out.push(await this.deleteOne(id, by));
    return out;
  }

  private async deleteOne(
    id: string,
    by: DeletionAudit,
    details: Record<string, unknown> = {},
  ): Promise<DeleteLoopResult> {
    const current = await this.loops.get(id);
    if (!current) return { id, outcome: "not_found" };
    const state = current.loop.status.state;
    if (!isFinished(state)) {
      await this.audit.append({
        ...by,
        loopId: id,
        outcome: "error",
        error: "active",
        details: { ...details, state },
      });
      return { id, outcome: "skipped", state, why: `${state} is active: cancel it first` };
    }
    try {
      const deleted = await this.loops.purge(id, current.revision, (loop) => {
        const { compares, ops } = this.audit.plan(
          {
            ...by,
            loopId: id,
            outcome: "ok",
            details: { ...details, state: loop.status.state, finishedAt: loop.status.finishedAt ?? null },
          },
          { indexByLoop: false },
        );
        return { compares, ops };
      });
      if (deleted) return { id, outcome: "deleted", state };
      return { id, outcome: "not_found" };
    } catch (err) {
      if (!isSmithError(err, "conflict")) throw err;
      return { id, outcome: "skipped", state, why: "it changed meanwhile: run again" };
    }
  }

  /**
   * Deletes audit events of whole UTC days before `cutoffMs`'s day (the audit keyspace is by day),
   * at most `max`, oldest first; then records one event of its own (not in a dry run).
   */
  private async sweepAudit(
    cutoffMs: number,
    max: number,
    by: DeletionAudit,
    dryRun: boolean,
  ): Promise<NonNullable<RetentionReport["audit"]>> {
    const { client, keys } = this.ctx;
    const cutoffDay = new Date(cutoffMs);
    cutoffDay.setUTCHours(0, 0, 0, 0);
    const range = { start: keys.auditPrefix(), end: keys.auditDayPrefix(cutoffDay) };
    const found = await etcdCall(() =>
      client
        .getAll()
        .inRange(range)
        .limit(max + 1)
        .keys(),
    );
    const due = found.slice(0, max);
    const last = due[due.length - 1];
    const result = { deleted: due.length, before: cutoffDay.toISOString(), capped: found.length > max };
    if (dryRun || !last) return result;
    // One range delete up to the last key counted: events written meanwhile land in today's day key.
    const { compares, ops } = this.audit.plan({
      ...by,
      action: `${by.action}.audit`,
      outcome: "ok",
      details: { deleted: due.length, before: result.before },
    });
    await txn(client, compares, [client.delete().inRange({ start: range.start, end: prefixEnd(last) }), ...ops]);
    return result;
  }
}
