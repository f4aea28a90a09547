import type { Principal } from "@smith/auth";
import { principalId } from "@smith/auth";
import {
  LIMITS,
  SmithError,
  checkRepoUrl,
  newId,
  tooLarge,
  utf8Length,
  validatePrd,
  type Actor,
  type AuditEventRequest,
  type CreateLoopRequest,
  type Loop,
  type LoopState,
  type VersionedLoop,
} from "@smith/core";
import type { CreateBatchItemResult, CreateLoopResult, SmithStore } from "@smith/store";
import type { CredentialOperations } from "./credentials.ts";

/** Steering messages waiting for a replica, at most. */
const MAX_PENDING_STEERING = 20;

function actorOf(principal: Principal): Actor {
  return principal.kind === "replica"
    ? { type: "replica", id: principalId(principal) }
    : { type: "operator", id: principalId(principal) };
}

export interface LoopOperationsOptions {
  /** Checks the credentials a loop names (absent: references are not checked). */
  credentials?: CredentialOperations;
  /** Accept file://, local paths and plain http:// repositories (default false: a shared API must not clone its own disk). */
  allowLocalRepos?: boolean;
}

/**
 * What people and programs do to loops. Each operation validates, writes through the store's
 * revision-checked transitions, and journals what it did, so that a loop's journal tells its
 * whole story (who cancelled it and why, which steering message arrived when).
 */

export class LoopOperations {
  private readonly store: SmithStore;
  private readonly credentials: CredentialOperations | undefined;
  private readonly allowLocalRepos: boolean;

  constructor(store: SmithStore, options: LoopOperationsOptions = {}) {
    this.store = store;
    this.credentials = options.credentials;
    this.allowLocalRepos = options.allowLocalRepos ?? false;
  }

  /** Refuses a repository URL this installation does not clone (before anything is written). */
  private checkRepo(request: CreateLoopRequest, field = "spec.repo.url"): void {
    const url = request.spec?.repo?.url;
    // The schema reports a missing or empty URL: one error per problem.
    if (typeof url !== "string" || url.length === 0) return;
    const err = checkRepoUrl(url, { allowLocal: this.allowLocalRepos }, field);
    if (err) throw err;
  }

  /** Refuses an inline PRD that is not ready (the report's diagnostics become the error's issues). */
  private checkPrd(request: CreateLoopRequest, field = "spec.prd.content"): void {
    const prd = request.spec?.prd;
    if (!prd || prd.kind !== "inline" || typeof prd.content !== "string") return;
    const bytes = utf8Length(prd.content);
    if (bytes > LIMITS.prdBytes) throw tooLarge(field, LIMITS.prdBytes, bytes);
    const report = validatePrd(prd.content);
    if (!report.valid) {
      const first = report.errors[0];
      throw new SmithError("invalid_argument", `${field}: the PRD is not ready: ${first?.message ?? "invalid"}`, {
        field,
        // The diagnostic's own path is inside the PRD document: keep it in the message.
        issues: report.errors.map((d) => ({ path: field, message: `${d.code} at ${d.path}: ${d.message}` })),
        report,
      });
    }
  }

  /**
   * Creates a loop with its "created" journal entry and (when given) its audit event in one txn;
   * an idempotent repeat writes neither.
   */
  async create(
    request: CreateLoopRequest,
    principal: Principal,
    correlationId: string,
    audit?: Omit<AuditEventRequest, "loopId">,
  ): Promise<CreateLoopResult> {
    this.checkRepo(request);
    this.checkPrd(request);
    await this.credentials?.checkReferences(request);
    // The "created" entry is written in the loop's own txn.
    return this.store.loops.create(request, {
      extra: (loop) => {
        const journal = this.store.journal.planFirst(
          loop.id,
          [
            {
              phase: "lifecycle",
              level: "info",
              actor: actorOf(principal),
              message: `loop created by ${principalId(principal)}`,
              metadata: {},
              correlationId,
            },
          ],
          correlationId,
        );
        const event = audit ? this.store.audit.plan({ ...audit, loopId: loop.id }) : undefined;
        return {
          compares: [...journal.compares, ...(event?.compares ?? [])],
          ops: [...journal.ops, ...(event?.ops ?? [])],
        };
      },
    });
  }

  async createBatch(
    requests: CreateLoopRequest[],
    principal: Principal,
    correlationId: string,
  ): Promise<CreateBatchItemResult[]> {
    if (requests.length > LIMITS.batchLoops) throw tooLarge("items", LIMITS.batchLoops, requests.length, "loops");
    requests.forEach((r, i) => {
      this.checkRepo(r, `items[${i}].spec.repo.url`);
      this.checkPrd(r, `items[${i}].spec.prd.content`);
    });
    for (const [i, r] of requests.entries()) await this.credentials?.checkReferences(r, `items[${i}].`);
    const results = await this.store.loops.createBatch(requests);
    for (const r of results) {
      if (r.ok && r.created)
        await this.journal(
          r.loop.id,
          principal,
          "lifecycle",
          `loop created by ${principalId(principal)} (batch)`,
          correlationId,
        );
    }
    return results;
  }

  async cancel(id: string, reason: string, principal: Principal, correlationId: string): Promise<VersionedLoop> {
    const at = new Date().toISOString();
    const result = await this.store.loops.transition(id, { type: "cancelRequested", reason, at });
    await this.journal(id, principal, "lifecycle", `cancelled by ${principalId(principal)}: ${reason}`, correlationId);
    return result;
  }

  async retry(id: string, reason: string, principal: Principal, correlationId: string): Promise<VersionedLoop> {
    const result = await this.store.loops.transition(id, {
      type: "retryRequested",
      reason,
      at: new Date().toISOString(),
    });
    await this.journal(
      id,
      principal,
      "lifecycle",
      `retry requested by ${principalId(principal)}: ${reason}`,
      correlationId,
    );
    return result;
  }

  /** A person's answer to a waiting loop: back to the queue, the answer for the next prompt. */
  async answer(id: string, answer: string, principal: Principal, correlationId: string): Promise<VersionedLoop> {
    const bytes = utf8Length(answer);
    if (bytes > LIMITS.steerMessageBytes) throw tooLarge("answer", LIMITS.steerMessageBytes, bytes);
    const current = await this.store.loops.getOrThrow(id);
    const question = current.loop.status.question;
    const result = await this.store.loops.transition(
      id,
      { type: "answered", answer, actor: principalId(principal), id: newId(), at: new Date().toISOString() },
      { expectedRevision: current.revision },
    );
    await this.journal(
      id,
      principal,
      "lifecycle",
      `answered by ${principalId(principal)}${question ? ` (question: ${question.slice(0, 1000)})` : ""}: ${answer.slice(0, 4000)}`,
      correlationId,
    );
    return result;
  }

  /**
   * Review feedback on a synced loop's pull request (changes requested, a failing check): the
   * loop is queued again with the feedback as steering, or waits for a person when the same
   * failure came back or the review rounds are used up (see the `reviewRequested` transition).
   */
  async requestReview(
    id: string,
    review: { source: string; feedback: string; fingerprint: string },
    principal: Principal,
    correlationId: string,
  ): Promise<VersionedLoop> {
    const current = await this.store.loops.getOrThrow(id);
    const result = await this.store.loops.transition(
      id,
      {
        type: "reviewRequested",
        source: review.source,
        feedback: review.feedback,
        fingerprint: review.fingerprint,
        actor: principalId(principal),
        id: newId(),
        at: new Date().toISOString(),
      },
      { expectedRevision: current.revision },
    );
    const s = result.loop.status;
    await this.journal(
      id,
      principal,
      "lifecycle",
      s.state === "waiting"
        ? `review feedback (${review.source.slice(0, 500)}): waiting for a person (${s.reason})`
        : `review round ${s.reviewRound ?? 0} of ${result.loop.spec.limits.maxReviewRounds}: ${review.source.slice(0, 500)}`,
      correlationId,
    );
    return result;
  }

  async override(
    id: string,
    to: LoopState,
    reason: string,
    principal: Principal,
    correlationId: string,
  ): Promise<VersionedLoop> {
    const { loop, override } = await this.store.overrides.force(id, to, reason, actorOf(principal), { correlationId });
    await this.journal(
      id,
      principal,
      "lifecycle",
      `state forced ${override.from} → ${override.to} by ${principalId(principal)}: ${reason}`,
      correlationId,
    );
    return loop;
  }

  /** Queues a message for the next iteration's prompt. */
  async steer(
    id: string,
    message: string,
    principal: Principal,
    correlationId: string,
  ): Promise<{ loop: Loop; messageId: string }> {
    const bytes = utf8Length(message);
    if (bytes > LIMITS.steerMessageBytes) throw tooLarge("message", LIMITS.steerMessageBytes, bytes);
    if (!message.trim())
      throw new SmithError("invalid_argument", "message: a steering message cannot be empty", { field: "message" });
    const messageId = newId();
    const updated = await this.store.loops.update(id, (loop) => {
      if (loop.status.state === "synced" || loop.status.state === "cancelled") {
        throw new SmithError(
          "invalid_transition",
          `loop ${id} is ${loop.status.state}: nothing will read a steering message`,
          { field: "id" },
        );
      }
      if (loop.steering.length >= MAX_PENDING_STEERING) {
        throw tooLarge("steering", MAX_PENDING_STEERING, loop.steering.length + 1, "pending messages");
      }
      return {
        ...loop,
        steering: [
          ...loop.steering,
          { id: messageId, message, at: new Date().toISOString(), actor: principalId(principal) },
        ],
      };
    });
    await this.journal(
      id,
      principal,
      "steer",
      `steering message from ${principalId(principal)}: ${message.slice(0, 2000)}`,
      correlationId,
      {
        messageId,
      },
    );
    return { loop: updated.loop, messageId };
  }

  private async journal(
    loopId: string,
    principal: Principal,
    phase: "lifecycle" | "steer",
    message: string,
    correlationId: string,
    metadata: Record<string, unknown> = {},
  ): Promise<void> {
    await this.store.journal.append(loopId, [
      { phase, level: "info", actor: actorOf(principal), message: message.slice(0, 8000), metadata, correlationId },
    ]);
  }
}
