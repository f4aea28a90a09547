import { LIMITS, LoopId } from "@smith/core";
import { tracked } from "@trpc/server";
import { z } from "zod";
import { subscriptionError } from "../subscriptions.ts";
import { plainJson } from "../transformer.ts";
import { router, viewerProcedure } from "../trpc.ts";

export const journalRouter = router({
  list: viewerProcedure
    .input(
      z.object({
        loopId: LoopId,
        afterSeq: z.number().int().min(0).default(0),
        /** With order "desc": entries before this seq (default: the newest). */
        beforeSeq: z.number().int().min(1).optional(),
        limit: z.number().int().min(1).max(LIMITS.pageSize).default(100),
        /** "desc": newest first (the last `limit` entries), for `logs --tail`. */
        order: z.enum(["asc", "desc"]).default("asc"),
      }),
    )
    .query(async ({ ctx, input }) => {
      await ctx.services.store.loops.getOrThrow(input.loopId);
      const page = await ctx.services.store.journal.list(input.loopId, input);
      return { entries: page.entries, more: page.more };
    }),

  /**
   * Backfill then follow: every entry after `afterSeq` (or after `lastEventId` when the client
   * reconnects) exactly once, in order. Event ids are the entries' seqs. A slow subscriber costs
   * bounded memory: the store's tail falls back to paging through etcd when it lags.
   */
  tail: viewerProcedure
    .input(
      z.object({
        loopId: LoopId,
        afterSeq: z.number().int().min(0).default(0),
        lastEventId: z.string().regex(/^\d+$/).nullish(),
      }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      const afterSeq = input.lastEventId ? Number(input.lastEventId) : input.afterSeq;
      try {
        await ctx.services.store.loops.getOrThrow(input.loopId);
        for await (const entry of ctx.services.store.journal.tail(input.loopId, {
          afterSeq,
          signal,
          maxBuffered: ctx.services.subscriptionBuffer,
        })) {
          yield tracked(String(entry.seq), plainJson(entry));
        }
      } catch (err) {
        throw subscriptionError(err);
      }
    }),

  /**
   * The same stream as `tail`, with the entries that are ready at the same moment sent together:
   * `{ entries }`, tracked by the last entry's seq. A busy journal goes out as a few large SSE
   * messages instead of one per entry (what costs, per event, on the server and the client);
   * an idle one still sends each entry at once. Dashboards use this one.
   */
  tailBatched: viewerProcedure
    .input(
      z.object({
        loopId: LoopId,
        afterSeq: z.number().int().min(0).default(0),
        lastEventId: z.string().regex(/^\d+$/).nullish(),
        /** Most entries in one event. */
        maxEntries: z.number().int().min(1).max(LIMITS.pageSize).default(200),
      }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      const afterSeq = input.lastEventId ? Number(input.lastEventId) : input.afterSeq;
      try {
        await ctx.services.store.loops.getOrThrow(input.loopId);
        for await (const batch of ctx.services.store.journal.tailBatches(input.loopId, {
          afterSeq,
          signal,
          maxBuffered: ctx.services.subscriptionBuffer,
          maxEntries: input.maxEntries,
        })) {
          const last = batch[batch.length - 1];
          if (last) yield tracked(String(last.seq), plainJson({ entries: batch }));
        }
      } catch (err) {
        throw subscriptionError(err);
      }
    }),
});
