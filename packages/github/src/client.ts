import { graphql as octokitGraphql, GraphqlResponseError } from "@octokit/graphql";
import {
  ADD_COMMENT,
  COLLABORATOR_PERMISSION,
  CREATE_PULL_REQUEST,
  ENABLE_AUTO_MERGE,
  GET_ISSUE,
  GET_REPOSITORY,
  ISSUES_BY_LABEL,
  PULL_REQUEST_FEEDBACK,
  PULL_REQUEST_FOR_HEAD,
  UPDATE_PULL_REQUEST,
} from "./documents.ts";
import { GitHubError } from "./errors.ts";
import { blockedUntil, parseRateLimit, type RateLimitState } from "./rateLimit.ts";
import type { IssueRef, RepoRef } from "./refs.ts";
import type {
  CheckRun,
  Issue,
  IssueWithComments,
  PullRequest,
  PullRequestFeedback,
  Repository,
  RepositoryPermission,
  Review,
  ReviewThread,
} from "./types.ts";

export interface GitHubClientOptions {
  /**
   * The token, or a function that returns a fresh one per call (GitHub App installation tokens
   * expire after an hour). Sent as `Authorization: token ...`; never logged or put in an error.
   */
  token: string | (() => Promise<string>);
  /**
   * REST base URL (default `https://api.github.com`). For GitHub Enterprise Server give
   * `https://HOST/api/v3`; GraphQL then goes to `https://HOST/api/graphql`.
   */
  baseUrl?: string;
  /** Sent as `user-agent` (default `smith`). */
  userAgent?: string;
  /** The fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Comments fetched with an issue (default 100, GitHub's page limit). */
  issueComments?: number;
}

interface IssueNode {
  id: string;
  number: number;
  title: string;
  body: string;
  url: string;
  state: "OPEN" | "CLOSED";
  author: { login: string } | null;
  labels: { nodes: ({ name: string } | null)[] | null } | null;
}

type Nodes<T> = { nodes: (T | null)[] | null } | null;

function nodes<T>(connection: Nodes<T> | undefined): T[] {
  return (connection?.nodes ?? []).filter((n): n is T => n !== null);
}

function toIssue(n: IssueNode): Issue {
  return {
    id: n.id,
    number: n.number,
    title: n.title,
    body: n.body,
    url: n.url,
    state: n.state,
    author: n.author?.login,
    labels: nodes(n.labels).map((l) => l.name),
  };
}

/**
 * GitHub through its GraphQL API (@octokit/graphql): the reads and writes Smith needs for issues
 * in and pull requests out. Remembers the rate-limit headers of the latest answer and refuses
 * to call while GitHub asked to wait (a `rate-limited` GitHubError with `retryAt`).
 */
export class GitHubClient {
  private readonly options: GitHubClientOptions;
  private readonly gql: typeof octokitGraphql;
  private rate: RateLimitState | undefined;

  constructor(options: GitHubClientOptions) {
    this.options = options;
    const baseFetch = options.fetch ?? fetch;
    const recordingFetch: typeof fetch = async (input, init) => {
      const response = await baseFetch(input, init);
      const state = parseRateLimit(response.headers);
      if (state.remaining !== undefined || state.retryAfter) this.rate = state;
      return response;
    };
    this.gql = octokitGraphql.defaults({
      baseUrl: options.baseUrl ?? "https://api.github.com",
      headers: { "user-agent": options.userAgent ?? "smith" },
      request: { fetch: recordingFetch },
    });
  }

  /** The rate-limit state of the latest answer (undefined before the first call). */
  get rateLimit(): RateLimitState | undefined {
    return this.rate;
  }

  private async call<T>(document: string, variables: Record<string, unknown>): Promise<T> {
    const wait = blockedUntil(this.rate);
    if (wait)
      throw new GitHubError("rate-limited", `GitHub's rate limit is exhausted until ${wait.toISOString()}`, {
        retryAt: wait,
      });
    const token = typeof this.options.token === "string" ? this.options.token : await this.options.token();
    try {
      return await this.gql<T>(document, { ...variables, headers: { authorization: `token ${token}` } });
    } catch (err) {
      throw this.translate(err);
    }
  }

  private translate(err: unknown): GitHubError {
    if (err instanceof GraphqlResponseError) {
      const errors = err.errors ?? [];
      const notFound = errors.find((e) => e.type === "NOT_FOUND");
      if (notFound) return new GitHubError("not-found", notFound.message, { cause: err });
      if (errors.some((e) => e.type === "RATE_LIMITED")) {
        const retryAt = blockedUntil(this.rate) ?? new Date(Date.now() + 60_000);
        return new GitHubError("rate-limited", "GitHub's GraphQL rate limit is exhausted", { retryAt, cause: err });
      }
      return new GitHubError("graphql", errors.map((e) => e.message).join("; ") || err.message, { cause: err });
    }
    const status = (err as { status?: unknown }).status;
    if (typeof status === "number") {
      const wait = blockedUntil(this.rate);
      if ((status === 403 || status === 429) && wait)
        return new GitHubError("rate-limited", `GitHub's rate limit is exhausted until ${wait.toISOString()}`, {
          status,
          retryAt: wait,
          cause: err,
        });
      if (status === 401)
        return new GitHubError("unauthorized", "GitHub refused the token (401)", { status, cause: err });
      if (status === 403)
        return new GitHubError("forbidden", "GitHub refused the request (403)", { status, cause: err });
      if (status === 404) return new GitHubError("not-found", "GitHub answered 404", { status, cause: err });
      return new GitHubError("unavailable", `GitHub answered ${status}`, { status, cause: err });
    }
    return new GitHubError(
      "unavailable",
      `GitHub could not be reached: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }

  /** An issue with its labels and (up to `issueComments`) comments, oldest first. */
  async getIssue(ref: IssueRef): Promise<IssueWithComments> {
    type Answer = {
      repository: {
        issue:
          | (IssueNode & {
              comments: {
                totalCount: number;
                nodes: ({
                  id: string;
                  body: string;
                  url: string;
                  createdAt: string;
                  author: { login: string } | null;
                } | null)[];
              };
            })
          | null;
      } | null;
    };
    const data = await this.call<Answer>(GET_ISSUE, {
      owner: ref.owner,
      name: ref.name,
      number: ref.number,
      comments: this.options.issueComments ?? 100,
    });
    const issue = data.repository?.issue;
    if (!issue) throw new GitHubError("not-found", `issue ${ref.owner}/${ref.name}#${ref.number} does not exist`);
    return {
      ...toIssue(issue),
      commentCount: issue.comments.totalCount,
      comments: nodes(issue.comments).map((c) => ({
        id: c.id,
        body: c.body,
        url: c.url,
        createdAt: c.createdAt,
        author: c.author?.login,
      })),
    };
  }

  /** Open issues of a repository that carry `label`, oldest first, up to `limit`. */
  async issuesWithLabel(repo: RepoRef, label: string, limit = 100): Promise<Issue[]> {
    type Answer = {
      repository: {
        issues: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: (IssueNode | null)[] };
      } | null;
    };
    const found: Issue[] = [];
    let after: string | null = null;
    while (found.length < limit) {
      const data: Answer = await this.call<Answer>(ISSUES_BY_LABEL, {
        owner: repo.owner,
        name: repo.name,
        labels: [label],
        first: Math.min(100, limit - found.length),
        after,
      });
      if (!data.repository) throw new GitHubError("not-found", `repository ${repo.owner}/${repo.name} does not exist`);
      found.push(...nodes(data.repository.issues).map(toIssue));
      if (!data.repository.issues.pageInfo.hasNextPage) break;
      after = data.repository.issues.pageInfo.endCursor;
    }
    return found;
  }

  async getRepository(repo: RepoRef): Promise<Repository> {
    type Answer = {
      repository: {
        id: string;
        url: string;
        viewerPermission: RepositoryPermission | null;
        defaultBranchRef: { name: string } | null;
      } | null;
    };
    const data = await this.call<Answer>(GET_REPOSITORY, { owner: repo.owner, name: repo.name });
    if (!data.repository) throw new GitHubError("not-found", `repository ${repo.owner}/${repo.name} does not exist`);
    return {
      id: data.repository.id,
      url: data.repository.url,
      defaultBranch: data.repository.defaultBranchRef?.name,
      viewerPermission: data.repository.viewerPermission ?? undefined,
    };
  }

  /** A user's permission on a repository, or undefined when they are not a collaborator. */
  async collaboratorPermission(repo: RepoRef, login: string): Promise<RepositoryPermission | undefined> {
    type Answer = {
      repository: {
        collaborators: {
          edges: ({ permission: RepositoryPermission; node: { login: string } } | null)[] | null;
        } | null;
      } | null;
    };
    const data = await this.call<Answer>(COLLABORATOR_PERMISSION, { owner: repo.owner, name: repo.name, login });
    const edge = (data.repository?.collaborators?.edges ?? []).find(
      (e) => e !== null && e.node.login.toLowerCase() === login.toLowerCase(),
    );
    return edge?.permission;
  }

  /** The open pull request whose head is `head` in the repository itself, if any. */
  async findPullRequest(repo: RepoRef, head: string): Promise<PullRequest | undefined> {
    type Answer = { repository: { pullRequests: Nodes<PullRequest> } | null };
    const data = await this.call<Answer>(PULL_REQUEST_FOR_HEAD, { owner: repo.owner, name: repo.name, head });
    if (!data.repository) throw new GitHubError("not-found", `repository ${repo.owner}/${repo.name} does not exist`);
    return nodes(data.repository.pullRequests)[0];
  }

  async createPullRequest(input: {
    repositoryId: string;
    base: string;
    head: string;
    title: string;
    body: string;
    draft?: boolean;
  }): Promise<PullRequest> {
    type Answer = { createPullRequest: { pullRequest: PullRequest } | null };
    const data = await this.call<Answer>(CREATE_PULL_REQUEST, {
      input: {
        repositoryId: input.repositoryId,
        baseRefName: input.base,
        headRefName: input.head,
        title: input.title,
        body: input.body,
        draft: input.draft ?? false,
      },
    });
    if (!data.createPullRequest) throw new GitHubError("graphql", "createPullRequest returned nothing");
    return data.createPullRequest.pullRequest;
  }

  async updatePullRequest(input: { pullRequestId: string; title?: string; body?: string }): Promise<PullRequest> {
    type Answer = { updatePullRequest: { pullRequest: PullRequest } | null };
    const data = await this.call<Answer>(UPDATE_PULL_REQUEST, { input });
    if (!data.updatePullRequest) throw new GitHubError("graphql", "updatePullRequest returned nothing");
    return data.updatePullRequest.pullRequest;
  }

  async enableAutoMerge(pullRequestId: string, mergeMethod: "MERGE" | "SQUASH" | "REBASE" = "SQUASH"): Promise<void> {
    await this.call(ENABLE_AUTO_MERGE, { input: { pullRequestId, mergeMethod } });
  }

  /** Comments on an issue or a pull request (`subjectId` is its node id). */
  async addComment(subjectId: string, body: string): Promise<{ id: string; url: string }> {
    type Answer = { addComment: { commentEdge: { node: { id: string; url: string } | null } | null } | null };
    const data = await this.call<Answer>(ADD_COMMENT, { input: { subjectId, body } });
    const node = data.addComment?.commentEdge?.node;
    if (!node) throw new GitHubError("graphql", "addComment returned nothing");
    return node;
  }

  /** Reviews, review threads and the head commit's check runs of a pull request. */
  async pullRequestFeedback(repo: RepoRef, number: number): Promise<PullRequestFeedback> {
    type Answer = {
      repository: {
        pullRequest:
          | (PullRequest & {
              reviewDecision: PullRequestFeedback["reviewDecision"] | null;
              reviews: Nodes<{
                id: string;
                state: Review["state"];
                body: string;
                submittedAt: string | null;
                author: { login: string } | null;
              }>;
              reviewThreads: Nodes<{
                isResolved: boolean;
                isOutdated: boolean;
                path: string;
                line: number | null;
                comments: Nodes<{ id: string; body: string; author: { login: string } | null }>;
              }>;
              commits: Nodes<{
                commit: {
                  oid: string;
                  checkSuites: Nodes<{
                    checkRuns: Nodes<{
                      name: string;
                      status: string;
                      conclusion: CheckRun["conclusion"] | null;
                      title: string | null;
                      summary: string | null;
                      text: string | null;
                      detailsUrl: string | null;
                    }>;
                  }>;
                };
              }>;
            })
          | null;
      } | null;
    };
    const data = await this.call<Answer>(PULL_REQUEST_FEEDBACK, { owner: repo.owner, name: repo.name, number });
    const pr = data.repository?.pullRequest;
    if (!pr) throw new GitHubError("not-found", `pull request ${repo.owner}/${repo.name}#${number} does not exist`);
    const head = nodes(pr.commits)[0]?.commit;
    const reviewThreads: ReviewThread[] = nodes(pr.reviewThreads).map((t) => ({
      isResolved: t.isResolved,
      isOutdated: t.isOutdated,
      path: t.path,
      line: t.line ?? undefined,
      comments: nodes(t.comments).map((c) => ({ id: c.id, body: c.body, author: c.author?.login })),
    }));
    return {
      pullRequest: {
        id: pr.id,
        number: pr.number,
        url: pr.url,
        state: pr.state,
        title: pr.title,
        headRefName: pr.headRefName,
        baseRefName: pr.baseRefName,
      },
      reviewDecision: pr.reviewDecision ?? undefined,
      reviews: nodes(pr.reviews).map((r) => ({
        id: r.id,
        state: r.state,
        body: r.body,
        submittedAt: r.submittedAt ?? undefined,
        author: r.author?.login,
      })),
      reviewThreads,
      headSha: head?.oid,
      checkRuns: nodes(head?.checkSuites).flatMap((s) =>
        nodes(s.checkRuns).map((r) => ({
          name: r.name,
          status: r.status,
          conclusion: r.conclusion ?? undefined,
          title: r.title ?? undefined,
          summary: r.summary ?? undefined,
          text: r.text ?? undefined,
          detailsUrl: r.detailsUrl ?? undefined,
        })),
      ),
    };
  }
}
