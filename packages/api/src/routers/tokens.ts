import { generateApiToken, hashToken } from "@smith/auth";
import { SCHEMA_VERSION } from "@smith/core";
import { TokenRole } from "@smith/store";
import { z } from "zod";
import { adminProcedure, router } from "../trpc.ts";

/** Token management (admin only). The token itself is returned once, at creation. */
export const tokensRouter = router({
  create: adminProcedure
    .input(
      z.object({
        name: z.string().trim().min(1).max(128),
        role: TokenRole,
        expiresInDays: z.number().int().min(1).max(3650).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { id, token } = generateApiToken();
      const now = new Date();
      const record = await ctx.services.store.tokens.create({
        schemaVersion: SCHEMA_VERSION,
        id,
        name: input.name,
        role: input.role,
        hash: hashToken(token),
        createdAt: now.toISOString(),
        createdBy: ctx.user.name,
        ...(input.expiresInDays
          ? { expiresAt: new Date(now.getTime() + input.expiresInDays * 86_400_000).toISOString() }
          : {}),
      });
      const { hash: _hash, ...shown } = record;
      return { token, record: shown };
    }),

  list: adminProcedure.query(async ({ ctx }) =>
    (await ctx.services.store.tokens.list()).map(({ hash: _hash, ...r }) => r),
  ),

  revoke: adminProcedure.input(z.object({ id: z.string().min(1).max(64) })).mutation(async ({ ctx, input }) => {
    const { hash: _hash, ...r } = await ctx.services.store.tokens.revoke(input.id);
    ctx.services.auth.forget(input.id);
    return r;
  }),
});
