export { appRouter, type AppRouter } from "./root.ts";
export { ApiServer, type ApiServerOptions, type ApiServerState, type McpHttpHandler } from "./server.ts";
export { Authenticator } from "./authenticator.ts";
export { trpcCodeOf, toTRPCError } from "./errors.ts";
export { GitHubIngress, githubPrincipal } from "./github/ingress.ts";
export {
  DEFAULT_MAX_WEBHOOK_BYTES,
  resolveGitHubOptions,
  type GitHubOptions,
  type GitHubTokenSource,
} from "./github/options.ts";
export {
  KubernetesCredentialBackend,
  type CredentialSecretStore,
  type CredentialSecretValue,
  type KubernetesCredentialBackendOptions,
} from "./credentials/kubernetesBackend.ts";
