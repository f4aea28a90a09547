export const GITHUB_ERROR_CODES = [
  /** The token was refused (401). */
  "unauthorized",
  /** The token may not do this (403 without a rate limit). */
  "forbidden",
  /** The primary or a secondary rate limit is exhausted; `retryAt` says when to try again. */
  "rate-limited",
  /** The repository, issue or pull request does not exist (or is not visible to the token). */
  "not-found",
  /** GitHub answered with GraphQL errors. */
  "graphql",
  /** No answer (network, 5xx). */
  "unavailable",
] as const;
export type GitHubErrorCode = (typeof GITHUB_ERROR_CODES)[number];

/** Every failure of the GitHub client, with a code callers can branch on. Never carries the token. */
export class GitHubError extends Error {
  readonly code: GitHubErrorCode;
  readonly status: number | undefined;
  readonly retryAt: Date | undefined;
  constructor(
    code: GitHubErrorCode,
    message: string,
    options: { status?: number; retryAt?: Date; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "GitHubError";
    this.code = code;
    this.status = options.status;
    this.retryAt = options.retryAt;
  }

  /** Worth retrying later: rate limits and outages, not refusals. */
  get recoverable(): boolean {
    return this.code === "rate-limited" || this.code === "unavailable";
  }
}
