import { CreateCredentialInput, CredentialName, RotateCredentialInput } from "@smith/core";
import { z } from "zod";
import { adminProcedure, router } from "../trpc.ts";

/**
 * Credentials (admin only). Write-only: every procedure answers with metadata (name, type,
 * scope, created, rotated, last used, key id), never with a value.
 */
export const credentialsRouter = router({
  create: adminProcedure
    .input(CreateCredentialInput)
    .mutation(({ ctx, input }) => ctx.services.credentials.create(input, ctx.user.name)),

  rotate: adminProcedure
    .input(RotateCredentialInput)
    .mutation(({ ctx, input }) => ctx.services.credentials.rotate(input.name, input.value, ctx.user.name)),

  revoke: adminProcedure
    .input(z.object({ name: CredentialName }))
    .mutation(({ ctx, input }) => ctx.services.credentials.revoke(input.name, ctx.user.name)),

  list: adminProcedure.query(({ ctx }) => ctx.services.credentials.list()),

  /** After SMITH_CREDENTIALS_KEY was rotated: re-seals every value under the new key. */
  reseal: adminProcedure.mutation(({ ctx }) => ctx.services.credentials.reseal()),
});
