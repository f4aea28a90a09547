/** The PRD wizard: `smith prd new` (write a PRD interactively) and `smith prd generate` (an agent drafts it). */
export { runPrdNew } from "./prdNew.ts";
export { runPrdGenerate } from "./prdGenerate.ts";
