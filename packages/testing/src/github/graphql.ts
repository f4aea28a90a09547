import { execute, type GraphQLError, parse, validate, type DocumentNode, type ExecutionResult } from "graphql";
import { githubSchema } from "./schema.ts";
import {
  atLeast,
  nodeId,
  type FakeComment,
  type FakeIssue,
  type FakePullRequest,
  type FakeRepository,
  type GitHubState,
  type Permission,
  type TokenGrant,
} from "./state.ts";

/** A GraphQL error the way GitHub reports it: a `type` beside the message. */
class GitHubGraphQLError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.type = type;
  }
}

export interface GraphQLHost {
  state: GitHubState;
  /** `http://127.0.0.1:PORT`: web URLs of issues and pull requests start here. */
  webUrl: string;
  /** Whether `branch` exists in the repository's git data. */
  branchExists(repo: FakeRepository, branch: string): Promise<boolean>;
  /** The commit `branch` points at. */
  branchSha(repo: FakeRepository, branch: string): Promise<string | undefined>;
}

interface Ctx {
  host: GraphQLHost;
  grant: TokenGrant;
}

interface PageArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
}

function page<T>(
  all: T[],
  args: PageArgs,
): { nodes: T[]; totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null } } {
  if (args.first != null && (args.first < 0 || args.first > 100))
    throw new GitHubGraphQLError("INVALID_ARGUMENTS", "`first` must be between 0 and 100");
  if (args.last != null && (args.last < 0 || args.last > 100))
    throw new GitHubGraphQLError("INVALID_ARGUMENTS", "`last` must be between 0 and 100");
  if (args.first == null && args.last == null)
    throw new GitHubGraphQLError(
      "MISSING_PAGINATION_BOUNDARIES",
      "You must provide a `first` or `last` value to properly paginate.",
    );
  const start = args.after ? Number(Buffer.from(args.after, "base64").toString("utf8")) + 1 : 0;
  let slice = all.slice(start);
  if (args.first != null) slice = slice.slice(0, args.first);
  if (args.last != null) slice = slice.slice(Math.max(0, slice.length - args.last));
  const end = start + slice.length - 1;
  return {
    nodes: slice,
    totalCount: all.length,
    pageInfo: {
      hasNextPage: start + slice.length < all.length && args.last == null,
      endCursor: slice.length ? Buffer.from(String(end), "utf8").toString("base64") : null,
    },
  };
}

const user = (login: string) => ({ __typename: "User", login });

function commentView(c: FakeComment, url: string) {
  return {
    id: c.id,
    body: c.body,
    url: `${url}#issuecomment-${c.databaseId}`,
    createdAt: c.createdAt,
    author: user(c.author),
  };
}

/** The fields issues and pull requests share, read from the fake record (graphql's default resolvers read getters). */
abstract class ItemView<T extends FakeIssue | FakePullRequest> {
  protected readonly item: T;
  constructor(item: T) {
    this.item = item;
  }
  get id() {
    return this.item.id;
  }
  get number() {
    return this.item.number;
  }
  get title() {
    return this.item.title;
  }
  get body() {
    return this.item.body;
  }
  get state() {
    return this.item.state;
  }
}

class IssueView extends ItemView<FakeIssue> {
  private readonly repoUrl: string;
  constructor(issue: FakeIssue, repoUrl: string) {
    super(issue);
    this.repoUrl = repoUrl;
  }
  get url() {
    return `${this.repoUrl}/issues/${this.item.number}`;
  }
  get author() {
    return user(this.item.author);
  }
  labels(args: PageArgs) {
    return page(
      this.item.labels.map((name) => ({ name })),
      args,
    );
  }
  comments(args: PageArgs) {
    return page(
      this.item.comments.map((c) => commentView(c, this.url)),
      args,
    );
  }
}

class PullRequestView extends ItemView<FakePullRequest> {
  private readonly repo: FakeRepository;
  private readonly host: GraphQLHost;
  constructor(pr: FakePullRequest, repo: FakeRepository, host: GraphQLHost) {
    super(pr);
    this.repo = repo;
    this.host = host;
  }
  get headRefName() {
    return this.item.headRefName;
  }
  get baseRefName() {
    return this.item.baseRefName;
  }
  get url() {
    return `${this.host.webUrl}/${this.repo.owner}/${this.repo.name}/pull/${this.item.number}`;
  }
  /** GitHub's rule: the latest review of each reviewer counts; any "changes requested" wins. */
  get reviewDecision() {
    const latest = new Map<string, string>();
    for (const r of this.item.reviews) if (r.state !== "COMMENTED") latest.set(r.author, r.state);
    const states = [...latest.values()];
    if (states.includes("CHANGES_REQUESTED")) return "CHANGES_REQUESTED";
    if (states.includes("APPROVED")) return "APPROVED";
    return "REVIEW_REQUIRED";
  }
  reviews(args: PageArgs) {
    return page(
      this.item.reviews.map((r) => ({ ...r, author: user(r.author) })),
      args,
    );
  }
  reviewThreads(args: PageArgs) {
    return page(
      this.item.reviewThreads.map((t) => ({
        isResolved: t.isResolved,
        isOutdated: t.isOutdated,
        path: t.path,
        line: t.line ?? null,
        comments: (a: PageArgs) =>
          page(
            t.comments.map((c) => ({ ...c, author: user(c.author) })),
            a,
          ),
      })),
      args,
    );
  }
  async commits(args: PageArgs) {
    const sha = await this.host.branchSha(this.repo, this.item.headRefName);
    const runs = sha ? (this.item.checkRuns.get(sha) ?? []) : [];
    const commit = {
      oid: sha ?? "0".repeat(40),
      checkSuites: (a: PageArgs) =>
        page(
          runs.length
            ? [
                {
                  checkRuns: (b: PageArgs) =>
                    page(
                      runs.map((r) => ({
                        name: r.name,
                        status: r.status,
                        conclusion: r.conclusion ?? null,
                        title: r.title ?? null,
                        summary: r.summary ?? null,
                        text: r.text ?? null,
                        detailsUrl: `${this.url}/checks`,
                      })),
                      b,
                    ),
                },
              ]
            : [],
          a,
        ),
    };
    return page(sha ? [{ commit }] : [], args);
  }
}

class RepositoryView {
  private readonly repo: FakeRepository;
  private readonly permissionValue: Permission;
  private readonly host: GraphQLHost;
  constructor(repo: FakeRepository, permissionValue: Permission, host: GraphQLHost) {
    this.repo = repo;
    this.permissionValue = permissionValue;
    this.host = host;
  }
  get id() {
    return this.repo.id;
  }
  get name() {
    return this.repo.name;
  }
  get url() {
    return `${this.host.webUrl}/${this.repo.owner}/${this.repo.name}`;
  }
  get viewerPermission() {
    return this.permissionValue;
  }
  get defaultBranchRef() {
    return { name: this.repo.defaultBranch };
  }
  issue({ number }: { number: number }) {
    const issue = this.repo.issues.get(number);
    if (!issue)
      throw new GitHubGraphQLError("NOT_FOUND", `Could not resolve to an Issue with the number of ${number}.`);
    return new IssueView(issue, this.url);
  }
  issues(
    args: PageArgs & { labels?: string[] | null; states?: string[] | null; orderBy?: { direction: string } | null },
  ) {
    let all = [...this.repo.issues.values()];
    if (args.labels?.length) {
      const wanted = args.labels.map((l) => l.toLowerCase());
      all = all.filter((i) => i.labels.some((l) => wanted.includes(l.toLowerCase())));
    }
    if (args.states?.length) all = all.filter((i) => args.states?.includes(i.state));
    all.sort((a, b) => a.number - b.number);
    if (args.orderBy?.direction === "DESC") all.reverse();
    return page(
      all.map((i) => new IssueView(i, this.url)),
      args,
    );
  }
  pullRequest({ number }: { number: number }) {
    const pr = this.repo.pullRequests.get(number);
    if (!pr)
      throw new GitHubGraphQLError("NOT_FOUND", `Could not resolve to a PullRequest with the number of ${number}.`);
    return new PullRequestView(pr, this.repo, this.host);
  }
  pullRequests(
    args: PageArgs & {
      headRefName?: string | null;
      baseRefName?: string | null;
      states?: string[] | null;
      orderBy?: { direction: string } | null;
    },
  ) {
    let all = [...this.repo.pullRequests.values()];
    if (args.headRefName) all = all.filter((p) => p.headRefName === args.headRefName);
    if (args.baseRefName) all = all.filter((p) => p.baseRefName === args.baseRefName);
    if (args.states?.length) all = all.filter((p) => args.states?.includes(p.state));
    all.sort((a, b) => a.number - b.number);
    if (args.orderBy?.direction === "DESC") all.reverse();
    return page(
      all.map((p) => new PullRequestView(p, this.repo, this.host)),
      args,
    );
  }
  collaborators(args: PageArgs & { login?: string | null }) {
    // GitHub lists collaborators only to tokens with push access.
    if (!atLeast(this.permissionValue, "WRITE"))
      throw new GitHubGraphQLError("FORBIDDEN", "Must have push access to view repository collaborators.");
    let all = [...this.repo.collaborators.entries()];
    all.push([this.repo.owner.toLowerCase(), "ADMIN"]);
    if (args.login) all = all.filter(([login]) => login === args.login?.toLowerCase());
    const p = page(all, args);
    return { ...p, edges: p.nodes.map(([login, permission]) => ({ permission, node: user(login) })) };
  }
}

function repoFor(
  ctx: Ctx,
  owner: string,
  name: string,
  need: Permission = "READ",
): { repo: FakeRepository; permission: Permission } {
  const repo = ctx.host.state.repository(owner, name);
  const permission = repo ? ctx.host.state.permission(ctx.grant, repo) : undefined;
  if (!repo || !permission)
    throw new GitHubGraphQLError("NOT_FOUND", `Could not resolve to a Repository with the name '${owner}/${name}'.`);
  if (!atLeast(permission, need))
    throw new GitHubGraphQLError(
      "FORBIDDEN",
      `${ctx.grant.login} does not have the ${need} permission on ${owner}/${name}.`,
    );
  return { repo, permission };
}

function repoById(ctx: Ctx, id: string, need: Permission): FakeRepository {
  const repo = [...ctx.host.state.repositories.values()].find((r) => r.id === id);
  if (!repo) throw new GitHubGraphQLError("NOT_FOUND", `Could not resolve to a node with the global id of '${id}'`);
  return repoFor(ctx, repo.owner, repo.name, need).repo;
}

const root = {
  repository(args: { owner: string; name: string }, ctx: Ctx) {
    const { repo, permission } = repoFor(ctx, args.owner, args.name);
    return new RepositoryView(repo, permission, ctx.host);
  },
  viewer(_args: unknown, ctx: Ctx) {
    return user(ctx.grant.login);
  },
  async createPullRequest(
    {
      input,
    }: {
      input: {
        repositoryId: string;
        baseRefName: string;
        headRefName: string;
        title: string;
        body?: string | null;
        draft?: boolean | null;
      };
    },
    ctx: Ctx,
  ) {
    const repo = repoById(ctx, input.repositoryId, "WRITE");
    for (const ref of [input.baseRefName, input.headRefName])
      if (!(await ctx.host.branchExists(repo, ref)))
        throw new GitHubGraphQLError(
          "UNPROCESSABLE",
          `Head sha can't be blank, Base sha can't be blank, No commits between ${input.baseRefName} and ${input.headRefName}, Base ref must be a branch`,
        );
    const open = [...repo.pullRequests.values()].find(
      (p) => p.state === "OPEN" && p.headRefName === input.headRefName && p.baseRefName === input.baseRefName,
    );
    if (open)
      throw new GitHubGraphQLError(
        "UNPROCESSABLE",
        `A pull request already exists for ${repo.owner}:${input.headRefName}.`,
      );
    const now = new Date().toISOString();
    const pr: FakePullRequest = {
      id: nodeId("PR"),
      number: repo.nextNumber++,
      title: input.title,
      body: input.body ?? "",
      state: "OPEN",
      headRefName: input.headRefName,
      baseRefName: input.baseRefName,
      draft: input.draft ?? false,
      author: ctx.grant.login,
      comments: [],
      reviews: [],
      reviewThreads: [],
      checkRuns: new Map(),
      autoMerge: undefined,
      createdAt: now,
      updatedAt: now,
    };
    repo.pullRequests.set(pr.number, pr);
    return { pullRequest: new PullRequestView(pr, repo, ctx.host) };
  },
  updatePullRequest(
    { input }: { input: { pullRequestId: string; title?: string | null; body?: string | null } },
    ctx: Ctx,
  ) {
    const found = ctx.host.state.subject(input.pullRequestId);
    if (!found || !("pullRequest" in found))
      throw new GitHubGraphQLError(
        "NOT_FOUND",
        `Could not resolve to a node with the global id of '${input.pullRequestId}'`,
      );
    repoFor(ctx, found.repo.owner, found.repo.name, "WRITE");
    if (input.title != null) found.pullRequest.title = input.title;
    if (input.body != null) found.pullRequest.body = input.body;
    found.pullRequest.updatedAt = new Date().toISOString();
    return { pullRequest: new PullRequestView(found.pullRequest, found.repo, ctx.host) };
  },
  enablePullRequestAutoMerge({ input }: { input: { pullRequestId: string; mergeMethod?: string | null } }, ctx: Ctx) {
    const found = ctx.host.state.subject(input.pullRequestId);
    if (!found || !("pullRequest" in found))
      throw new GitHubGraphQLError(
        "NOT_FOUND",
        `Could not resolve to a node with the global id of '${input.pullRequestId}'`,
      );
    repoFor(ctx, found.repo.owner, found.repo.name, "WRITE");
    found.pullRequest.autoMerge = input.mergeMethod ?? "MERGE";
    return { pullRequest: new PullRequestView(found.pullRequest, found.repo, ctx.host) };
  },
  addComment({ input }: { input: { subjectId: string; body: string } }, ctx: Ctx) {
    const found = ctx.host.state.subject(input.subjectId);
    if (!found)
      throw new GitHubGraphQLError(
        "NOT_FOUND",
        `Could not resolve to a node with the global id of '${input.subjectId}'`,
      );
    // Commenting needs read access on a public repository; these are private: triage and up.
    repoFor(ctx, found.repo.owner, found.repo.name, "READ");
    const comment: FakeComment = {
      id: nodeId("IC"),
      databaseId: ctx.host.state.commentId(),
      body: input.body,
      author: ctx.grant.login,
      createdAt: new Date().toISOString(),
    };
    const target = "issue" in found ? found.issue : found.pullRequest;
    target.comments.push(comment);
    const url = `${ctx.host.webUrl}/${found.repo.owner}/${found.repo.name}/${"issue" in found ? "issues" : "pull"}/${target.number}`;
    return { commentEdge: { node: commentView(comment, url) } };
  },
};

/** A GraphQL answer in GitHub's shape: errors carry a `type` (NOT_FOUND, FORBIDDEN, ...). */
export interface GitHubGraphQLResult {
  data?: ExecutionResult["data"];
  errors?: { message: string; type?: string; path?: readonly (string | number)[]; locations?: unknown }[];
}

const documentCache = new Map<string, DocumentNode>();

export interface GraphQLCall {
  operationName: string | undefined;
  variables: Record<string, unknown>;
  login: string;
  errors: string[];
}

/** Parses, validates against GitHub's schema, and executes one request. */
export async function runGraphQL(
  host: GraphQLHost,
  grant: TokenGrant,
  request: { query?: unknown; variables?: unknown; operationName?: unknown },
): Promise<{ result: GitHubGraphQLResult; call: GraphQLCall }> {
  const schema = await githubSchema();
  const variables = (request.variables ?? {}) as Record<string, unknown>;
  const call: GraphQLCall = {
    operationName: typeof request.operationName === "string" ? request.operationName : undefined,
    variables,
    login: grant.login,
    errors: [],
  };
  if (typeof request.query !== "string") {
    call.errors.push("A query attribute must be specified and must be a string.");
    return { result: { errors: [{ message: "A query attribute must be specified and must be a string." }] }, call };
  }
  const query = request.query;
  let document = documentCache.get(query);
  if (!document) {
    try {
      document = parse(query);
    } catch (err) {
      const message = (err as GraphQLError).message;
      call.errors.push(message);
      return { result: { errors: [{ message }] }, call };
    }
    const errors = validate(schema, document);
    if (errors.length) {
      call.errors.push(...errors.map((e) => e.message));
      return { result: { errors: errors.map((e) => ({ message: e.message, locations: e.locations })) }, call };
    }
    documentCache.set(query, document);
  }
  const opName = document.definitions.find((d) => d.kind === "OperationDefinition")?.name?.value;
  call.operationName ??= opName;
  const result = await execute({
    schema,
    document,
    rootValue: root,
    contextValue: { host, grant } satisfies Ctx,
    variableValues: variables,
    operationName: typeof request.operationName === "string" ? request.operationName : undefined,
  });
  const errors = (result.errors ?? []).map((e) => ({
    type: e.originalError instanceof GitHubGraphQLError ? e.originalError.type : undefined,
    message: e.message,
    path: e.path,
    locations: e.locations,
  }));
  call.errors.push(...errors.map((e) => e.message));
  return { result: errors.length ? { data: result.data, errors } : { data: result.data }, call };
}
