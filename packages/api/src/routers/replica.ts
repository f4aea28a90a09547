import {
  EvidenceUpdate,
  HandoffInput,
  JournalEntryInput,
  LIMITS,
  LoopCost,
  LoopId,
  Progress,
  ReasonCode,
} from "@smith/core";
import { z } from "zod";
import { PullRequestReportInput } from "../github/publisher.ts";
import { plainJson } from "../transformer.ts";
import { replicaProcedure, router } from "../trpc.ts";

const Loop = z.object({ loopId: LoopId });

/**
 * The loop-scoped procedures replicas call with their replica token. The attempt is the token's;
 * a call carrying a stale attempt gets CONFLICT and changes nothing.
 */
export const replicaRouter = router({
  acquireLock: replicaProcedure
    .input(Loop)
    .mutation(({ ctx, input }) => ctx.services.replica.acquireLock(input.loopId, ctx.replica.attempt)),

  heartbeat: replicaProcedure
    .input(Loop)
    .mutation(({ ctx, input }) => ctx.services.replica.heartbeat(input.loopId, ctx.replica.attempt)),

  /** The spec (with the inline PRD), the latest handoff of earlier attempts, pending steering messages. */
  getSpec: replicaProcedure
    .input(Loop)
    .query(({ ctx, input }) => ctx.services.replica.getSpec(input.loopId, ctx.replica.attempt)),

  appendJournal: replicaProcedure
    .input(Loop.extend({ entries: z.array(JournalEntryInput).min(1).max(LIMITS.journalBatchEntries) }))
    .mutation(async ({ ctx, input }) => {
      const entries = await ctx.services.replica.appendJournal(
        input.loopId,
        ctx.replica.attempt,
        input.entries,
        ctx.correlationId,
      );
      // Numbers only: sent as superjson's plain form without its walk.
      return plainJson({ seqs: entries.map((e) => e.seq) });
    }),

  recordIteration: replicaProcedure
    .input(
      Loop.extend({ iteration: z.number().int().min(1), progress: Progress.optional(), usage: LoopCost.optional() }),
    )
    .mutation(({ ctx, input }) =>
      ctx.services.replica.recordIteration(input.loopId, ctx.replica.attempt, {
        iteration: input.iteration,
        progress: input.progress,
        cost: input.usage,
      }),
    ),

  /** Gate evidence: the gate plan, the baseline, one story's results and commit, the final verification. */
  recordEvidence: replicaProcedure
    .input(Loop.extend({ update: EvidenceUpdate }))
    .mutation(({ ctx, input }) => ctx.services.replica.recordEvidence(input.loopId, ctx.replica.attempt, input.update)),

  writeHandoff: replicaProcedure
    .input(Loop.extend({ handoff: HandoffInput }))
    .mutation(({ ctx, input }) => ctx.services.replica.writeHandoff(input.loopId, ctx.replica.attempt, input.handoff)),

  finalize: replicaProcedure
    .input(
      Loop.extend({
        outcome: z.enum(["synced", "flatline", "waiting"]),
        reason: ReasonCode,
        message: z.string().max(4000).optional(),
        /** `waiting`: what the person who answers is asked. */
        question: z.string().max(4000).optional(),
        /** `waiting` with reason `quota`: when the agent's usage limit resets. */
        resumeAt: z.string().datetime({ offset: true }).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const loop = await ctx.services.replica.finalize(
        input.loopId,
        ctx.replica.attempt,
        {
          outcome: input.outcome,
          reason: input.reason,
          message: input.message,
          question: input.question,
          resumeAt: input.resumeAt,
        },
        ctx.correlationId,
      );
      // The flatline's txn queued the source issue's comment in the outbox: tell it now. GitHub
      // being away cannot undo the finalize: the item stays for the outbox's next pass.
      if (loop.status.state === "flatline") await ctx.services.githubOutbox.kick(loop.id);
      return loop;
    }),

  /**
   * The credentials this loop needs, for this attempt only: the git token (a GitHub App's is
   * minted now, scoped to the repository) and the agent's provider key. The replica hands them to
   * git through its askpass file and to the agent's environment, and nowhere else.
   */
  credentials: replicaProcedure
    .input(Loop)
    .mutation(({ ctx, input }) => ctx.services.replica.credentials(input.loopId, ctx.replica.attempt)),

  /**
   * At synced: opens the work branch's pull request on GitHub, or updates the open one for that
   * head, stores its URL on the loop and tells the source issue. Non-GitHub remotes: nothing.
   */
  publishPullRequest: replicaProcedure
    .input(Loop.extend({ report: PullRequestReportInput }))
    .mutation(({ ctx, input }) =>
      ctx.services.githubPublisher.publishFor(input.loopId, ctx.replica.attempt, input.report, ctx.correlationId),
    ),

  /** The source issue (title, body, comments) of a loop made from a GitHub issue: what its PRD is drafted from. */
  sourceIssue: replicaProcedure
    .input(Loop)
    .query(({ ctx, input }) => ctx.services.githubPublisher.sourceIssueFor(input.loopId, ctx.replica.attempt)),

  /** Steering messages the replica has put into a prompt. */
  ackSteering: replicaProcedure
    .input(Loop.extend({ ids: z.array(z.string().max(64)).min(1).max(100) }))
    .mutation(({ ctx, input }) => ctx.services.replica.ackSteering(input.loopId, ctx.replica.attempt, input.ids)),
});
