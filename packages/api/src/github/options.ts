import type { LoopSpecInput } from "@smith/core";
import { GitHubClient, GitHubError, type RepoRef } from "@smith/github";

/**
 * The token the API uses for a repository's GitHub API calls (a PAT, or an App installation
 * token minted for it), or undefined when it has none. Called per use: installation tokens expire.
 */
export type GitHubTokenSource = (repo: RepoRef) => Promise<string | undefined>;

export interface GitHubPollOptions {
  /** Repositories whose open issues with the label become loops. */
  repos: RepoRef[];
  /** How often each repository is polled, across all API processes (default 60 s, at least 10 s). */
  intervalMs?: number;
}

export interface GitHubOptions {
  /** Poll these repositories for labeled issues (for installations GitHub's webhooks cannot reach). */
  poll?: GitHubPollOptions;
  /** Shared secret of the webhook (HMAC SHA-256). Without it `POST /webhooks/github` answers 404. */
  webhookSecret?: string;
  /** The issue label that makes a loop (default `smith`). */
  label?: string;
  /** REST base URL (default `https://api.github.com`; GitHub Enterprise Server: `https://HOST/api/v3`). */
  apiUrl?: string;
  /** Web hosts whose clone URLs are GitHub repositories (default: `github.com`, or the apiUrl's host for GHES). */
  webHosts?: string[];
  /** Tokens for API calls: permission checks, issues, pull requests. */
  token?: GitHubTokenSource;
  /** Spec fields of loops made from issues: agent, quality gates, limits (the repo and PRD come from the issue). */
  loopTemplate?: Partial<Pick<LoopSpecInput, "agent" | "qualityGates" | "limits" | "pullRequest">>;
  /** Largest webhook body (default 1 MiB; GitHub caps payloads at 25 MB, Smith needs far less). */
  maxWebhookBytes?: number;
  /** Where a person follows a loop, with `{id}` for its id (default: the smithctl command). */
  loopLinkTemplate?: string;
}

export interface ResolvedGitHubOptions {
  webhookSecret: string | undefined;
  label: string;
  apiUrl: string;
  webHosts: string[];
  token: GitHubTokenSource | undefined;
  loopTemplate: NonNullable<GitHubOptions["loopTemplate"]>;
  maxWebhookBytes: number;
  loopLinkTemplate: string;
}

export const DEFAULT_MAX_WEBHOOK_BYTES = 1024 * 1024;

export function resolveGitHubOptions(options: GitHubOptions = {}): ResolvedGitHubOptions {
  const apiUrl = (options.apiUrl ?? "https://api.github.com").replace(/\/+$/, "");
  const apiHost = new URL(apiUrl).host;
  return {
    webhookSecret: options.webhookSecret,
    label: options.label ?? "smith",
    apiUrl,
    webHosts: options.webHosts ?? [apiHost === "api.github.com" ? "github.com" : apiHost],
    token: options.token,
    loopTemplate: options.loopTemplate ?? {},
    maxWebhookBytes: options.maxWebhookBytes ?? DEFAULT_MAX_WEBHOOK_BYTES,
    loopLinkTemplate: options.loopLinkTemplate ?? "smithctl describe loop {id}",
  };
}

/**
 * One GitHubClient per repository, kept so that each remembers GitHub's rate-limit answers; the
 * token is asked for per call, so an installation token that expired is replaced.
 */
export class GitHubClients {
  private readonly options: ResolvedGitHubOptions;
  private readonly clients = new Map<string, GitHubClient>();

  constructor(options: ResolvedGitHubOptions) {
    this.options = options;
  }

  /** Undefined when no token source is configured. */
  for(repo: RepoRef): GitHubClient | undefined {
    const source = this.options.token;
    if (!source) return undefined;
    const key = `${repo.owner}/${repo.name}`.toLowerCase();
    let client = this.clients.get(key);
    if (!client) {
      client = new GitHubClient({
        baseUrl: this.options.apiUrl,
        token: async () => {
          const token = await source(repo);
          if (!token) throw new GitHubError("unauthorized", `no GitHub token for ${repo.owner}/${repo.name}`);
          return token;
        },
      });
      this.clients.set(key, client);
    }
    return client;
  }
}
