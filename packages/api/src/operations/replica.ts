import {
  mergeEvidence,
  newId,
  SmithError,
  transition,
  type EvidenceUpdate,
  type Handoff,
  type HandoffInput,
  type JournalEntry,
  type JournalEntryRequest,
  type Loop,
  type LoopCost,
  type Progress,
  type ReasonCode,
  type ResolvedCredentials,
} from "@smith/core";
import type { Compare, SmithStore } from "@smith/store";
import type { z } from "zod";
import type { CredentialOperations } from "./credentials.ts";

export interface ReplicaOperationsOptions {
  /** The lock expires this long after the last heartbeat (default 30 s). */
  lockTtlMs?: number;
  /** Resolves the credentials a loop needs (none without it). */
  credentials?: CredentialOperations;
}

/**
 * The loop-scoped operations of one replica attempt. Every write checks the attempt: the loop's
 * current attempt for loop writes (revision-checked), the replica lock's fencing compare for
 * journal and handoff writes. A stale attempt is `stale_attempt` (CONFLICT) and changes nothing.
 */
export class ReplicaOperations {
  private readonly store: SmithStore;
  readonly lockTtlMs: number;
  private readonly credentialOps: CredentialOperations | undefined;
  /**
   * The fencing compare of each loop's last journal append (its attempt and the lock key's
   * revision), so that a replica's next append is one txn instead of a lock read and a txn. It
   * is only a hint: etcd still checks the compare in the txn; a lock taken since (another
   * attempt) or re-taken makes the txn fail, and the append then reads the lock again.
   */
  private readonly fences = new Map<string, { attempt: number; fence: Compare[] }>();

  constructor(store: SmithStore, options: ReplicaOperationsOptions = {}) {
    this.store = store;
    this.lockTtlMs = options.lockTtlMs ?? 30_000;
    this.credentialOps = options.credentials;
  }

  private async current(loopId: string, attempt: number): Promise<Loop> {
    const { loop } = await this.store.loops.getOrThrow(loopId);
    if (loop.status.attempt !== attempt) {
      throw new SmithError(
        "stale_attempt",
        `loop ${loopId}: attempt ${attempt} is stale; the current attempt is ${loop.status.attempt}`,
        {
          field: "attempt",
          currentAttempt: loop.status.attempt,
        },
      );
    }
    return loop;
  }

  async acquireLock(
    loopId: string,
    attempt: number,
  ): Promise<{ attempt: number; expiresAt: string; ttlMs: number; heartbeatIntervalMs: number }> {
    await this.current(loopId, attempt);
    const { expiresAt } = await this.store.locks.acquire(loopId, attempt, {
      holder: `replica-${attempt}`,
      ttlMs: this.lockTtlMs,
    });
    await this.store.journal.append(
      loopId,
      [
        {
          phase: "lifecycle",
          actor: { type: "replica", id: `attempt-${attempt}` },
          message: `replica of attempt ${attempt} took the lock`,
        },
      ],
      { fence: await this.store.locks.fence(loopId, attempt) },
    );
    return { attempt, expiresAt, ttlMs: this.lockTtlMs, heartbeatIntervalMs: Math.floor(this.lockTtlMs / 3) };
  }

  /**
   * Extends the lock. Tells the replica when to stop: the loop was cancelled, forced or timed out
   * (its state is no longer `running`), without that being an error.
   */
  async heartbeat(
    loopId: string,
    attempt: number,
  ): Promise<{ state: Loop["status"]["state"]; stop: boolean; expiresAt?: string; pendingSteering: number }> {
    const loop = await this.current(loopId, attempt);
    if (loop.status.state !== "running")
      return { state: loop.status.state, stop: true, pendingSteering: loop.steering.length };
    const { expiresAt } = await this.store.locks.heartbeat(loopId, attempt, { ttlMs: this.lockTtlMs });
    return { state: loop.status.state, stop: false, expiresAt, pendingSteering: loop.steering.length };
  }

  async getSpec(
    loopId: string,
    attempt: number,
  ): Promise<{ loop: Loop; latestHandoff: Handoff | undefined; steering: Loop["steering"] }> {
    const loop = await this.current(loopId, attempt);
    const latestHandoff = await this.store.handoffs.latest(loopId);
    return { loop, latestHandoff, steering: loop.steering };
  }

  async appendJournal(
    loopId: string,
    attempt: number,
    entries: JournalEntryRequest[],
    correlationId: string,
  ): Promise<JournalEntry[]> {
    // A replica writes as itself or as its agent, never as an operator. Every entry gets its id
    // here, so that writing the batch again after a failed fence cannot store an entry twice.
    const own = entries.map((e) => ({
      ...e,
      id: e.id ?? newId(),
      actor:
        e.actor && (e.actor.type === "replica" || e.actor.type === "agent")
          ? e.actor
          : { type: "replica" as const, id: `attempt-${attempt}` },
    }));
    const cached = this.fences.get(loopId);
    if (cached?.attempt === attempt) {
      try {
        return await this.store.journal.append(loopId, own, { fence: cached.fence, correlationId });
      } catch (err) {
        if (!(err instanceof SmithError) || err.code !== "stale_attempt") throw err;
        // The lock changed since that append: read it again, which says whether we still hold it.
        this.fences.delete(loopId);
      }
    }
    const fence = await this.store.locks.fence(loopId, attempt);
    const written = await this.store.journal.append(loopId, own, { fence, correlationId });
    this.rememberFence(loopId, { attempt, fence });
    return written;
  }

  private rememberFence(loopId: string, entry: { attempt: number; fence: Compare[] }): void {
    // Bounded: a long-lived API process serves many loops; the oldest is forgotten first.
    if (this.fences.size >= 10_000 && !this.fences.has(loopId)) {
      const oldest = this.fences.keys().next().value;
      if (oldest !== undefined) this.fences.delete(oldest);
    }
    this.fences.delete(loopId);
    this.fences.set(loopId, entry);
  }

  async recordIteration(
    loopId: string,
    attempt: number,
    input: { iteration: number; progress?: Progress; cost?: LoopCost },
  ): Promise<Loop> {
    const result = await this.store.loops.transition(loopId, {
      type: "iterationRecorded",
      attempt,
      iteration: input.iteration,
      progress: input.progress,
      cost: input.cost,
      at: new Date().toISOString(),
    });
    return result.loop;
  }

  async writeHandoff(loopId: string, attempt: number, handoff: z.input<typeof HandoffInput>): Promise<Handoff> {
    const fence = await this.store.locks.fence(loopId, attempt);
    return this.store.handoffs.put(loopId, attempt, handoff, fence);
  }

  async finalize(
    loopId: string,
    attempt: number,
    input: {
      outcome: "synced" | "flatline" | "waiting";
      reason: ReasonCode;
      message?: string;
      question?: string;
      resumeAt?: string;
    },
    correlationId: string,
  ): Promise<Loop> {
    const event = {
      type: "finalized" as const,
      attempt,
      outcome: input.outcome,
      reason: input.reason,
      message: input.message,
      question: input.question,
      resumeAt: input.resumeAt,
      at: new Date().toISOString(),
    };
    // A finalize the lifecycle refuses writes nothing, the journal included: the journal must
    // never claim an outcome that did not happen. The pure check runs on the current loop; the
    // store's revision-checked transition below still catches a race.
    const checked = transition(await this.current(loopId, attempt), event);
    if (!checked.ok)
      throw new SmithError(
        checked.error.code,
        checked.error.message,
        checked.error.code === "invalid_argument" ? { field: "reason" } : {},
      );
    // Journal first, fenced: once the loop leaves `running` the lock is gone with it.
    await this.store.journal.append(
      loopId,
      [
        {
          phase: "finalize",
          actor: { type: "replica", id: `attempt-${attempt}` },
          level: input.outcome === "synced" ? "info" : "warn",
          message: [
            `${input.outcome} (${input.reason})${input.message ? `: ${input.message}` : ""}`,
            input.question ? `question: ${input.question}` : "",
            input.resumeAt ? `resumes at ${input.resumeAt}` : "",
          ]
            .filter(Boolean)
            .join("\n")
            .slice(0, 8000),
          metadata: {
            outcome: input.outcome,
            reason: input.reason,
            ...(input.resumeAt ? { resumeAt: input.resumeAt } : {}),
          },
        },
      ],
      { fence: await this.store.locks.fence(loopId, attempt), correlationId },
    );
    const result = await this.store.loops.transition(loopId, event);
    return result.loop;
  }

  /**
   * The loop's credentials, for the current attempt of a running loop only: a stale attempt's
   * token (a replica that lost its lock) gets nothing.
   */
  async credentials(loopId: string, attempt: number): Promise<ResolvedCredentials> {
    const loop = await this.current(loopId, attempt);
    if (loop.status.state !== "running")
      throw new SmithError("invalid_transition", `loop ${loopId} is ${loop.status.state}: no credentials`, {
        field: "loopId",
      });
    if (!this.credentialOps) return {};
    return this.credentialOps.resolveForLoop(loop);
  }

  /**
   * Records gate evidence on the loop (the gate plan, the baseline, a story's results and commit,
   * the final verification). Bounded by `mergeEvidence`, so the loop record stays far below etcd's
   * request limit however many stories and gates there are. Only the current, running attempt writes.
   */
  async recordEvidence(loopId: string, attempt: number, update: EvidenceUpdate): Promise<{ stories: number }> {
    await this.current(loopId, attempt);
    const { loop } = await this.store.loops.update(loopId, (l) => {
      if (l.status.attempt !== attempt || l.status.state !== "running") {
        throw new SmithError("stale_attempt", `loop ${loopId}: attempt ${attempt} may no longer write evidence`, {
          field: "attempt",
          currentAttempt: l.status.attempt,
        });
      }
      return { ...l, evidence: mergeEvidence(l.evidence, update) };
    });
    return { stories: loop.evidence?.stories.length ?? 0 };
  }

  /** Removes steering messages the replica has put into a prompt. */
  async ackSteering(loopId: string, attempt: number, ids: string[]): Promise<{ remaining: number }> {
    await this.current(loopId, attempt);
    const done = new Set(ids);
    const { loop } = await this.store.loops.update(loopId, (l) => ({
      ...l,
      steering: l.steering.filter((m) => !done.has(m.id)),
    }));
    return { remaining: loop.steering.length };
  }
}
