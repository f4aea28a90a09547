import { LIMITS, prdFromMarkdown, prdToMarkdown, parsePrd, serializePrd, validatePrd } from "@smith/core";
import { z } from "zod";
import { router, viewerProcedure } from "../trpc.ts";

// Inputs may be a little larger than the PRD limit, so that an oversized PRD gets the validation
// report's `prd_too_large` (naming the limit) instead of a bare length error.
const Text = z.string().max(LIMITS.prdBytes * 2, `limited to ${LIMITS.prdBytes * 2} characters`);

export const prdRouter = router({
  /** The validation report; never an error for a bad PRD (the report says what is wrong). */
  validate: viewerProcedure.input(z.object({ content: Text })).query(({ input }) => validatePrd(input.content)),

  /** Markdown → PRD JSON (smith shape for hand-written markdown), with its report. */
  importMarkdown: viewerProcedure.input(z.object({ markdown: Text })).mutation(({ input }) => {
    const prd = prdFromMarkdown(input.markdown);
    const content = serializePrd(prd);
    return { content, report: validatePrd(content) };
  }),

  /** PRD JSON (either shape) → markdown that imports back to the same model. */
  exportMarkdown: viewerProcedure
    .input(z.object({ content: Text }))
    .mutation(({ input }) => ({ markdown: prdToMarkdown(parsePrd(input.content)) })),
});
