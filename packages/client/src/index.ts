export { createSmithClient, type SmithClient, type SmithClientOptions } from "./client.ts";
export { TRPCClientError } from "@trpc/client";
export type { AppRouter } from "@smith/api";
