import { API_VERSION, SMITH_VERSION } from "@smith/core";
import { publicProcedure, router } from "../trpc.ts";

export const healthRouter = router({
  /** Unauthenticated: is this API process up, and does it reach etcd? */
  check: publicProcedure.query(async ({ ctx }) => ({ ok: true, etcd: await ctx.services.store.ping() })),
  version: publicProcedure.query(() => ({ version: SMITH_VERSION, api: API_VERSION })),
});
