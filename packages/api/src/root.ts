import { credentialsRouter } from "./routers/credentials.ts";
import { githubRouter } from "./routers/github.ts";
import { healthRouter } from "./routers/health.ts";
import { journalRouter } from "./routers/journal.ts";
import { loopsRouter } from "./routers/loops.ts";
import { prdRouter } from "./routers/prd.ts";
import { auditRouter, costRouter, handoffsRouter, overridesRouter } from "./routers/records.ts";
import { replicaRouter } from "./routers/replica.ts";
import { tokensRouter } from "./routers/tokens.ts";
import { router } from "./trpc.ts";

export const appRouter = router({
  loops: loopsRouter,
  journal: journalRouter,
  handoffs: handoffsRouter,
  overrides: overridesRouter,
  audit: auditRouter,
  cost: costRouter,
  prd: prdRouter,
  replica: replicaRouter,
  tokens: tokensRouter,
  credentials: credentialsRouter,
  github: githubRouter,
  health: healthRouter,
});

export type AppRouter = typeof appRouter;
