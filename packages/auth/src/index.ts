export * from "./replicaToken.ts";
export * from "./apiToken.ts";
export * from "./roles.ts";
