import { LIMITS, LOOP_STATES, LoopId, LoopState } from "@smith/core";
import { z } from "zod";
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
