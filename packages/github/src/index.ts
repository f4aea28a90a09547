export { GitHubClient, type GitHubClientOptions } from "./client.ts";
export * as documents from "./documents.ts";
export { GitHubError, GITHUB_ERROR_CODES, type GitHubErrorCode } from "./errors.ts";
export { blockedUntil, parseRateLimit, type RateLimitState } from "./rateLimit.ts";
export * from "./refs.ts";
export * from "./types.ts";
export * from "./webhook.ts";
export * from "./pullRequestBody.ts";
export * from "./reviewFeedback.ts";
