import { parseIssueRef, parseRepoRef } from "@smith/github";
import { z } from "zod";
import { operatorProcedure, router } from "../trpc.ts";

/** `owner/repo#N`, checked the way the webhook and the loop source are. */
const IssueRefText = z
  .string()
  .max(256)
  .refine((text) => parseIssueRef(text) !== undefined, { message: "must be an issue reference `owner/repo#N`" });

/** `owner/repo`. */
const RepoText = z
  .string()
  .max(200)
  .refine((text) => parseRepoRef(text) !== undefined, { message: "must be a repository `owner/repo`" });

/** The label GitHub allows (1 to 50 characters). */
const Label = z.string().trim().min(1).max(50);

/**
 * Loops from GitHub issues, for installations and people that do not (only) use the webhook. Each
 * makes the loop the webhook would make for the issue, under the same idempotency key
 * (`github:owner/repo#N`): asking twice, or asking after the webhook did, makes no second loop.
 */
export const githubRouter = router({
  /** The loop of one issue (`smithctl create loop --from-github owner/repo#N`). The label is not required. */
  createFromIssue: operatorProcedure.input(z.object({ ref: IssueRefText })).mutation(async ({ ctx, input }) => {
    const ref = parseIssueRef(input.ref);
    if (!ref) throw new Error("unreachable: the input was checked");
    const outcome = await ctx.services.github.createFromIssue(ref, ctx.principal, ctx.correlationId);
    return { ref: input.ref, ...outcome };
  }),

  /** Loops for every open issue of a repository that carries the label (`smithctl ingest github`). */
  ingest: operatorProcedure
    .input(z.object({ repo: RepoText, label: Label.optional() }))
    .mutation(async ({ ctx, input }) => {
      const repo = parseRepoRef(input.repo);
      if (!repo) throw new Error("unreachable: the input was checked");
      const results = await ctx.services.github.ingestRepository(repo, ctx.principal, ctx.correlationId, input.label);
      return { repo: input.repo, label: input.label ?? ctx.services.github.options.label, results };
    }),
});
