import { CreateLoopInput, LIMITS, LOOP_STATES, LoopId, LoopSourceType, LoopState, Reason } from "@smith/core";
import { tracked } from "@trpc/server";
import { z } from "zod";
import { subscriptionError } from "../subscriptions.ts";
import { adminProcedure, auditActor, operatorProcedure, router, viewerProcedure } from "../trpc.ts";

const IdInput = z.object({ id: LoopId });

export const loopsRouter = router({
  create: operatorProcedure.input(CreateLoopInput).mutation(async ({ ctx, input, path }) => {
    // The audit event goes into the create txn: one write instead of three.
    const r = await ctx.services.loops.create(input, ctx.principal, ctx.correlationId, {
      actor: auditActor(ctx.principal),
      action: path,
      outcome: "ok",
      correlationId: ctx.correlationId,
    });
    if (r.created && ctx.auditWritten) ctx.auditWritten.done = true;
    return { loop: r.loop, created: r.created };
  }),

  /** Up to 100 loops: all validated first (one bad item rejects the batch), then per-item results. */
  createBatch: operatorProcedure
    .input(
      z.object({
        items: z.array(CreateLoopInput).min(1).max(LIMITS.batchLoops, `at most ${LIMITS.batchLoops} loops per batch`),
      }),
    )
    .mutation(async ({ ctx, input }) => ({
      results: await ctx.services.loops.createBatch(input.items, ctx.principal, ctx.correlationId),
    })),

  get: viewerProcedure
    .input(IdInput)
    .query(async ({ ctx, input }) => (await ctx.services.store.loops.getOrThrow(input.id)).loop),

  list: viewerProcedure
    .input(
      z
        .object({
          state: z.union([LoopState, z.array(LoopState).max(LOOP_STATES.length)]).optional(),
          repo: z.string().max(2048).optional(),
          source: LoopSourceType.optional(),
          cursor: LoopId.optional(),
          limit: z.number().int().min(1).max(LIMITS.pageSize).default(100),
          order: z.enum(["asc", "desc"]).default("desc"),
        })
        .default({ limit: 100, order: "desc" }),
    )
    .query(async ({ ctx, input }) => ctx.services.store.loops.list(input)),

  cancel: operatorProcedure
    .input(z.object({ id: LoopId, reason: Reason }))
    .mutation(
      async ({ ctx, input }) =>
        (await ctx.services.loops.cancel(input.id, input.reason, ctx.principal, ctx.correlationId)).loop,
    ),

  /** From flatline only, with a reason: the loop gets a fresh set of attempts. */
  retry: operatorProcedure
    .input(z.object({ id: LoopId, reason: Reason }))
    .mutation(
      async ({ ctx, input }) =>
        (await ctx.services.loops.retry(input.id, input.reason, ctx.principal, ctx.correlationId)).loop,
    ),

  /** A message delivered into the next iteration's prompt. */
  steer: operatorProcedure
    .input(
      z.object({
        id: LoopId,
        message: z
          .string()
          .min(1, "a message is required")
          .max(LIMITS.steerMessageBytes, `the message is limited to ${LIMITS.steerMessageBytes} bytes`),
      }),
    )
    .mutation(async ({ ctx, input }) =>
      ctx.services.loops.steer(input.id, input.message, ctx.principal, ctx.correlationId),
    ),

  /**
   * Answers a `waiting` loop: it goes back to the queue, and its next attempt resumes the work
   * branch with the answer (and the question it answers) in its prompt.
   */
  answer: operatorProcedure
    .input(
      z.object({
        id: LoopId,
        answer: z
          .string()
          .min(1, "an answer is required")
          .max(LIMITS.steerMessageBytes, `the answer is limited to ${LIMITS.steerMessageBytes} bytes`),
      }),
    )
    .mutation(
      async ({ ctx, input }) =>
        (await ctx.services.loops.answer(input.id, input.answer, ctx.principal, ctx.correlationId)).loop,
    ),

  /** Forces a state (only where the lifecycle allows it), with a reason. Admin only. */
  override: adminProcedure
    .input(z.object({ id: LoopId, to: LoopState, reason: Reason }))
    .mutation(
      async ({ ctx, input }) =>
        (await ctx.services.loops.override(input.id, input.to, input.reason, ctx.principal, ctx.correlationId)).loop,
    ),

  /**
   * Loop changes, fed by an etcd watch (any API process serves any client). Event ids are etcd
   * revisions: reconnecting with lastEventId resumes right after the last change seen. With
   * `snapshot`, the current loops come first (all with the snapshot's revision as id).
   */
  watch: viewerProcedure
    .input(
      z
        .object({
          lastEventId: z.string().regex(/^\d+$/).nullish(),
          snapshot: z.boolean().default(false),
          state: z.array(LoopState).max(LOOP_STATES.length).optional(),
        })
        .default({ snapshot: false }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      const store = ctx.services.store;
      const wanted = input.state ? new Set(input.state) : undefined;
      let watch: ReturnType<typeof store.loops.watch> | undefined;
      try {
        let from: string;
        if (input.lastEventId) {
          from = String(BigInt(input.lastEventId) + 1n);
        } else {
          const head = await store.loops.list({ limit: 1 });
          from = String(BigInt(head.revision) + 1n);
          if (input.snapshot) {
            let cursor: string | undefined;
            do {
              const page = await store.loops.list({ cursor, limit: 500, order: "asc", state: input.state });
              for (const loop of page.items) yield tracked(head.revision, { type: "put" as const, loop });
              cursor = page.nextCursor;
            } while (cursor);
          }
        }
        watch = store.loops.watch({ fromRevision: from, maxBuffered: ctx.services.subscriptionBuffer });
        const w = watch;
        signal?.addEventListener("abort", () => w.close(), { once: true });
        for await (const change of w) {
          if (change.type === "put") {
            if (wanted && !wanted.has(change.loop.status.state)) continue;
            yield tracked(change.revision, { type: "put" as const, loop: change.loop });
          } else {
            yield tracked(change.revision, { type: "delete" as const, id: change.id });
          }
        }
      } catch (err) {
        throw subscriptionError(err);
      } finally {
        watch?.close();
      }
    }),
});
