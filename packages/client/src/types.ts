import type { AppRouter } from "@smith/api";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";

export type { AppRouter };
/** Every procedure's input, by path: `RouterInputs["loops"]["create"]`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Every procedure's result, by path: `RouterOutputs["loops"]["get"]`. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
