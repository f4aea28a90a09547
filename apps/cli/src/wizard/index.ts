/** The PRD wizard: `smith prd new` (write a PRD interactively) and `smith prd generate` (an agent drafts it). */
export { CANCELLED_EXIT_CODE, markdownPathFor, runPrdNew, writePrdFiles, type PrdNewOptions } from "./prdNew.ts";
export { AGENT_PRD_PATH, DEFAULT_GENERATE_TIMEOUT_MS, runPrdGenerate, type PrdGenerateOptions } from "./prdGenerate.ts";
export { KEY_HELP, type KeyHelp } from "./keys.ts";
