import { LIMITS, LOOP_STATES, LoopId, LoopState } from "@smith/core";
import { tracked } from "@trpc/server";
import { z } from "zod";
import { subscriptionError } from "../subscriptions.ts";
import { router, viewerProcedure } from "../trpc.ts";

export const handoffsRouter = router({
  list: viewerProcedure.input(z.object({ loopId: LoopId })).query(async ({ ctx, input }) => {
    await ctx.services.store.loops.getOrThrow(input.loopId);
    return ctx.services.store.handoffs.list(input.loopId);
  }),
});

export const overridesRouter = router({
  list: viewerProcedure.input(z.object({ loopId: LoopId })).query(async ({ ctx, input }) => {
    await ctx.services.store.loops.getOrThrow(input.loopId);
    return ctx.services.store.overrides.list(input.loopId);
  }),
});

export const auditRouter = router({
  /** By loop, or by time range (`from` inclusive, `to` exclusive), oldest first, paginated. */
  list: viewerProcedure
    .input(
      z
        .object({
          loopId: LoopId.optional(),
          from: z.string().datetime().optional(),
          to: z.string().datetime().optional(),
          cursor: z.string().max(64).optional(),
          limit: z.number().int().min(1).max(LIMITS.pageSize).default(100),
        })
        .default({ limit: 100 }),
    )
    .query(async ({ ctx, input }) => {
      if (input.loopId) await ctx.services.store.loops.getOrThrow(input.loopId);
      return ctx.services.store.audit.list(input);
    }),

  /**
   * New audit events as they are written, fed by an etcd watch (any API process serves any
   * client). Event ids are etcd revisions: reconnecting with lastEventId resumes right after the
   * last event seen. `recent` first sends that many of the newest events (ids: the read's revision).
   */
  watch: viewerProcedure
    .input(
      z
        .object({
          lastEventId: z.string().regex(/^\d+$/).nullish(),
          recent: z.number().int().min(0).max(LIMITS.pageSize).default(0),
          loopId: LoopId.optional(),
        })
        .default({ recent: 0 }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      const store = ctx.services.store;
      const wanted = (e: { loopId?: string }) => input.loopId === undefined || e.loopId === input.loopId;
      let watch: ReturnType<typeof store.audit.watch> | undefined;
      try {
        let from: string;
        if (input.lastEventId) from = String(BigInt(input.lastEventId) + 1n);
        else {
          const head = await store.audit.recent(input.recent);
          from = String(BigInt(head.revision) + 1n);
          for (const e of head.items) if (wanted(e)) yield tracked(head.revision, e);
        }
        watch = store.audit.watch({ fromRevision: from, maxBuffered: ctx.services.subscriptionBuffer });
        const w = watch;
        signal?.addEventListener("abort", () => w.close(), { once: true });
        for await (const change of w) if (wanted(change.event)) yield tracked(change.revision, change.event);
      } catch (err) {
        throw subscriptionError(err);
      } finally {
        watch?.close();
      }
    }),
});

export const costRouter = router({
  get: viewerProcedure.input(z.object({ loopId: LoopId })).query(async ({ ctx, input }) => {
    const { loop } = await ctx.services.store.loops.getOrThrow(input.loopId);
    return {
      loopId: loop.id,
      cost: loop.cost,
      iteration: loop.status.iteration,
      budgetUsd: loop.spec.limits.maxCostUsd,
    };
  }),

  /** Totals over every loop (optionally of some states). */
  summary: viewerProcedure
    .input(z.object({ state: z.array(LoopState).max(LOOP_STATES.length).optional() }).default({}))
    .query(async ({ ctx, input }) => {
      const total = { loops: 0, inputTokens: 0, outputTokens: 0, usd: 0 };
      let cursor: string | undefined;
      do {
        const page = await ctx.services.store.loops.list({ cursor, limit: 500, state: input.state });
        for (const l of page.items) {
          total.loops++;
          total.inputTokens += l.cost.inputTokens;
          total.outputTokens += l.cost.outputTokens;
          total.usd += l.cost.usd;
        }
        cursor = page.nextCursor;
      } while (cursor);
      total.usd = Math.round(total.usd * 1e6) / 1e6;
      return total;
    }),
});
