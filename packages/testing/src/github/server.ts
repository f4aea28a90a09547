import { execFile } from "node:child_process";
import { createHmac, createPublicKey, randomBytes, randomUUID, verify } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { tempDir, type TempDir } from "../tempDir.ts";
import { serveGit } from "./gitHttp.ts";
import { runGraphQL, type GraphQLCall, type GraphQLHost } from "./graphql.ts";
import {
  atLeast,
  GitHubState,
  nodeId,
  type FakeApp,
  type FakeCheckRun,
  type FakeInstallation,
  type FakeIssue,
  type FakePullRequest,
  type FakeRepository,
  type FakeReview,
  type FakeReviewThread,
  type Permission,
  type TokenGrant,
} from "./state.ts";

const run = promisify(execFile);

export interface StartGitHubServerOptions {
  /** Requests per rate-limit window (default 5,000, GitHub's for a user token). */
  rateLimit?: number;
}

export interface RestCall {
  method: string;
  path: string;
  status: number;
}

export interface WebhookDelivery {
  status: number;
  body: string;
  deliveryId: string;
}

/**
 * A GitHub for tests, on a free loopback port: the GraphQL API (`/api/graphql`, documents
 * validated and executed against GitHub's published schema), the REST endpoints GitHub App
 * authentication uses (`/api/v3`, GitHub Enterprise Server's layout), git smart HTTP
 * (`/<owner>/<name>.git`, through `git http-backend`, token checked on clone and push) and a
 * webhook sender. State lives in memory; tests arrange it with the methods below.
 */
export class GitHubServer {
  readonly state = new GitHubState();
  /** Every GraphQL request, in order (operation name, variables, the token's login, errors). */
  readonly graphqlCalls: GraphQLCall[] = [];
  readonly restCalls: RestCall[] = [];
  private readonly server: Server;
  private readonly root: TempDir;
  private rate: { limit: number; remaining: number; resetAt: Date };
  private readonly holds = new Map<string, { arrived: () => void; released: Promise<void> }>();

  private constructor(root: TempDir, options: StartGitHubServerOptions) {
    this.root = root;
    const limit = options.rateLimit ?? 5000;
    this.rate = { limit, remaining: limit, resetAt: new Date(Date.now() + 3600_000) };
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`test GitHub failed: ${err instanceof Error ? err.message : String(err)}`);
      });
    });
  }

  static async start(options: StartGitHubServerOptions = {}): Promise<GitHubServer> {
    const root = await tempDir("smith-github-");
    const server = new GitHubServer(root, options);
    await new Promise<void>((resolve, reject) => {
      server.server.once("error", reject);
      server.server.listen(0, "127.0.0.1", () => resolve());
    });
    return server;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
  /** The web host with its port: what a clone URL's host is. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }
  /** `http://127.0.0.1:PORT`: web pages and git. */
  get url(): string {
    return `http://${this.host}`;
  }
  /** The REST base URL (GraphQL is at `${url}/api/graphql`), as for GitHub Enterprise Server. */
  get apiUrl(): string {
    return `${this.url}/api/v3`;
  }

  cloneUrl(owner: string, name: string): string {
    return `${this.url}/${owner}/${name}.git`;
  }

  /** The bare repository on disk, for tests that inspect what was pushed. */
  repoPath(owner: string, name: string): string {
    return join(this.root.path, "git", owner.toLowerCase(), `${name.toLowerCase()}.git`);
  }

  /**
   * Holds every GraphQL request of the named operation (e.g. `SmithAddComment`) until `release()`:
   * a test stops a client in the middle of a flow. `arrived` resolves when the first one is held.
   */
  hold(operationName: string): { arrived: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const arrivedP = new Promise<void>((r) => (arrived = r));
    const released = new Promise<void>((r) => (release = r));
    this.holds.set(operationName, { arrived, released });
    return {
      arrived: arrivedP,
      release: () => {
        this.holds.delete(operationName);
        release();
      },
    };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.root.remove();
  }

  // --- arranging state ---

  /** A repository with one commit of `files` on its default branch. */
  async createRepository(
    owner: string,
    name: string,
    options: { defaultBranch?: string; files?: Record<string, string> } = {},
  ): Promise<FakeRepository> {
    const defaultBranch = options.defaultBranch ?? "main";
    const bare = this.repoPath(owner, name);
    await mkdir(dirname(bare), { recursive: true });
    await run("git", ["init", "--quiet", "--bare", "-b", defaultBranch, bare]);
    const seed = join(this.root.path, "seed", randomUUID());
    await mkdir(seed, { recursive: true });
    const files = options.files ?? { "README.md": `# ${name}\n` };
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(seed, path)), { recursive: true });
      await writeFile(join(seed, path), content);
    }
    const git = (...args: string[]) =>
      run("git", ["-c", "user.name=seed", "-c", "user.email=seed@example.test", ...args], { cwd: seed });
    await git("init", "--quiet", "-b", defaultBranch);
    await git("add", "-A");
    await git("commit", "--quiet", "-m", "initial commit");
    await git("push", "--quiet", bare, `HEAD:refs/heads/${defaultBranch}`);
    const repo: FakeRepository = {
      id: nodeId("R"),
      owner,
      name,
      defaultBranch,
      nextNumber: 1,
      issues: new Map(),
      pullRequests: new Map(),
      collaborators: new Map(),
    };
    this.state.repositories.set(this.state.key(owner, name), repo);
    return repo;
  }

  private repo(owner: string, name: string): FakeRepository {
    const repo = this.state.repository(owner, name);
    if (!repo) throw new Error(`test GitHub: no repository ${owner}/${name}`);
    return repo;
  }

  /** A new personal access token for `login` (a fresh random value unless given). */
  createToken(
    login: string,
    grant: Omit<TokenGrant, "login"> = {},
    token = `ghp_${randomBytes(18).toString("hex")}`,
  ): string {
    this.state.tokens.set(token, { login, ...grant });
    return token;
  }

  revokeToken(token: string): void {
    this.state.tokens.delete(token);
  }

  addCollaborator(owner: string, name: string, login: string, permission: Permission): void {
    this.repo(owner, name).collaborators.set(login.toLowerCase(), permission);
  }

  createIssue(
    owner: string,
    name: string,
    issue: {
      title: string;
      body?: string;
      labels?: string[];
      author?: string;
      comments?: { body: string; author: string }[];
    },
  ): FakeIssue {
    const repo = this.repo(owner, name);
    const created: FakeIssue = {
      id: nodeId("I"),
      number: repo.nextNumber++,
      title: issue.title,
      body: issue.body ?? "",
      state: "OPEN",
      author: issue.author ?? "octocat",
      labels: issue.labels ?? [],
      comments: [],
      createdAt: new Date().toISOString(),
    };
    repo.issues.set(created.number, created);
    for (const c of issue.comments ?? []) this.addIssueComment(owner, name, created.number, c);
    return created;
  }

  issue(owner: string, name: string, number: number): FakeIssue {
    const issue = this.repo(owner, name).issues.get(number);
    if (!issue) throw new Error(`test GitHub: no issue ${owner}/${name}#${number}`);
    return issue;
  }

  addIssueComment(owner: string, name: string, number: number, comment: { body: string; author: string }) {
    const issue = this.issue(owner, name, number);
    const created = {
      id: nodeId("IC"),
      databaseId: this.state.commentId(),
      body: comment.body,
      author: comment.author,
      createdAt: new Date().toISOString(),
    };
    issue.comments.push(created);
    return created;
  }

  addLabel(owner: string, name: string, number: number, label: string): void {
    const issue = this.issue(owner, name, number);
    if (!issue.labels.includes(label)) issue.labels.push(label);
  }

  pullRequests(owner: string, name: string): FakePullRequest[] {
    return [...this.repo(owner, name).pullRequests.values()];
  }

  pullRequest(owner: string, name: string, number: number): FakePullRequest {
    const pr = this.repo(owner, name).pullRequests.get(number);
    if (!pr) throw new Error(`test GitHub: no pull request ${owner}/${name}#${number}`);
    return pr;
  }

  submitReview(
    owner: string,
    name: string,
    number: number,
    review: {
      state: FakeReview["state"];
      body: string;
      author: string;
      threads?: Omit<FakeReviewThread, "isResolved" | "isOutdated">[];
    },
  ): FakeReview {
    const pr = this.pullRequest(owner, name, number);
    const created: FakeReview = {
      id: nodeId("PRR"),
      state: review.state,
      body: review.body,
      author: review.author,
      submittedAt: new Date().toISOString(),
    };
    pr.reviews.push(created);
    for (const t of review.threads ?? []) pr.reviewThreads.push({ ...t, isResolved: false, isOutdated: false });
    return created;
  }

  /** Check runs on the pull request's current head commit. */
  async setCheckRuns(owner: string, name: string, number: number, runs: FakeCheckRun[]): Promise<string> {
    const pr = this.pullRequest(owner, name, number);
    const sha = await this.branchSha(this.repo(owner, name), pr.headRefName);
    if (!sha) throw new Error(`test GitHub: ${pr.headRefName} does not exist`);
    pr.checkRuns.set(sha, runs);
    return sha;
  }

  /**
   * A GitHub App: installation tokens are minted for a JWT signed with the private key that
   * belongs to `publicKeyPem` (or `privateKeyPem`, whose public half is derived).
   */
  addApp(app: {
    appId: number;
    slug?: string;
    privateKeyPem?: string;
    publicKeyPem?: string;
    installations: FakeInstallation[];
  }): FakeApp {
    const keySource = app.publicKeyPem ?? app.privateKeyPem;
    if (!keySource) throw new Error("test GitHub: addApp needs a public or private key");
    const created: FakeApp = {
      appId: app.appId,
      slug: app.slug ?? `app-${app.appId}`,
      publicKeyPem: createPublicKey(keySource).export({ type: "spki", format: "pem" }).toString(),
      installations: app.installations,
    };
    this.state.apps.set(app.appId, created);
    return created;
  }

  /** The next answers carry these numbers; at 0 remaining GitHub refuses until the reset. */
  setRateLimit(rate: { remaining: number; resetAt?: Date; limit?: number }): void {
    this.rate = {
      limit: rate.limit ?? this.rate.limit,
      remaining: rate.remaining,
      resetAt: rate.resetAt ?? this.rate.resetAt,
    };
  }

  // --- webhooks ---

  /** An `issues` event payload for an issue as it is now. */
  issuesPayload(owner: string, name: string, number: number, action: string, label?: string): Record<string, unknown> {
    const issue = this.issue(owner, name, number);
    return {
      action,
      issue: this.issueJson(owner, name, issue),
      ...(label ? { label: { name: label } } : {}),
      repository: this.repositoryJson(owner, name),
      sender: { login: issue.author },
    };
  }

  /** Adds a comment and returns the `issue_comment` (created) payload GitHub would send for it. */
  issueCommentPayload(
    owner: string,
    name: string,
    number: number,
    comment: { body: string; author: string },
  ): Record<string, unknown> {
    const created = this.addIssueComment(owner, name, number, comment);
    const issue = this.issue(owner, name, number);
    return {
      action: "created",
      issue: this.issueJson(owner, name, issue),
      comment: {
        id: created.databaseId,
        node_id: created.id,
        body: created.body,
        user: { login: created.author },
        html_url: `${this.url}/${owner}/${name}/issues/${number}#issuecomment-${created.databaseId}`,
      },
      repository: this.repositoryJson(owner, name),
      sender: { login: created.author },
    };
  }

  /** Submits a review and returns the `pull_request_review` (submitted) payload GitHub would send for it. */
  async pullRequestReviewPayload(
    owner: string,
    name: string,
    number: number,
    review: Parameters<GitHubServer["submitReview"]>[3],
  ): Promise<Record<string, unknown>> {
    const created = this.submitReview(owner, name, number, review);
    return {
      action: "submitted",
      review: {
        id: Number.parseInt(created.id.replace(/\D/g, "").slice(0, 9) || "1", 10),
        node_id: created.id,
        state: created.state.toLowerCase(),
        body: created.body,
        user: { login: created.author },
        submitted_at: created.submittedAt,
      },
      pull_request: await this.pullRequestJson(owner, name, number),
      repository: this.repositoryJson(owner, name),
      sender: { login: created.author },
    };
  }

  /** Sets the head commit's check runs and returns the `check_run` (completed) payload of the first. */
  async checkRunPayload(
    owner: string,
    name: string,
    number: number,
    runs: FakeCheckRun[],
  ): Promise<Record<string, unknown>> {
    const sha = await this.setCheckRuns(owner, name, number, runs);
    const run = runs[0];
    if (!run) throw new Error("test GitHub: a check run payload needs a run");
    return {
      action: "completed",
      check_run: {
        name: run.name,
        status: "completed",
        conclusion: run.conclusion?.toLowerCase() ?? null,
        head_sha: sha,
        pull_requests: [await this.pullRequestJson(owner, name, number)],
      },
      repository: this.repositoryJson(owner, name),
      sender: { login: "github-actions[bot]" },
    };
  }

  private async pullRequestJson(owner: string, name: string, number: number): Promise<Record<string, unknown>> {
    const pr = this.pullRequest(owner, name, number);
    const repo = this.repo(owner, name);
    return {
      number: pr.number,
      node_id: pr.id,
      state: pr.state.toLowerCase(),
      head: { ref: pr.headRefName, sha: (await this.branchSha(repo, pr.headRefName)) ?? "" },
      base: { ref: pr.baseRefName },
    };
  }

  private issueJson(owner: string, name: string, issue: FakeIssue): Record<string, unknown> {
    return {
      node_id: issue.id,
      number: issue.number,
      title: issue.title,
      body: issue.body,
      state: issue.state.toLowerCase(),
      html_url: `${this.url}/${owner}/${name}/issues/${issue.number}`,
      labels: issue.labels.map((l) => ({ name: l })),
      user: { login: issue.author },
    };
  }

  private repositoryJson(owner: string, name: string): Record<string, unknown> {
    const repo = this.repo(owner, name);
    return {
      node_id: repo.id,
      name: repo.name,
      full_name: `${repo.owner}/${repo.name}`,
      owner: { login: repo.owner },
      clone_url: this.cloneUrl(repo.owner, repo.name),
      html_url: `${this.url}/${repo.owner}/${repo.name}`,
      default_branch: repo.defaultBranch,
    };
  }

  /**
   * Delivers a webhook as GitHub does: JSON body, `X-GitHub-Event`, `X-GitHub-Delivery` and
   * `X-Hub-Signature-256` (HMAC SHA-256 of the body under `secret`). `signature` replaces the
   * computed one (a forgery); `rawBody` replaces the JSON text.
   */
  async sendWebhook(options: {
    url: string;
    secret: string;
    event: string;
    payload?: unknown;
    rawBody?: string | Buffer;
    deliveryId?: string;
    signature?: string | null;
  }): Promise<WebhookDelivery> {
    const deliveryId = options.deliveryId ?? randomUUID();
    const body = options.rawBody ?? JSON.stringify(options.payload ?? {});
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/smith-test",
      "x-github-event": options.event,
      "x-github-delivery": deliveryId,
      "x-github-hook-id": "1",
    };
    const signature =
      options.signature === undefined
        ? `sha256=${createHmac("sha256", options.secret).update(body).digest("hex")}`
        : options.signature;
    if (signature !== null) headers["x-hub-signature-256"] = signature;
    const res = await fetch(options.url, { method: "POST", headers, body });
    return { status: res.status, body: await res.text(), deliveryId };
  }

  // --- git data ---

  async branchSha(repo: FakeRepository, branch: string): Promise<string | undefined> {
    try {
      const { stdout } = await run("git", ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], {
        cwd: this.repoPath(repo.owner, repo.name),
      });
      return stdout.trim() || undefined;
    } catch {
      return undefined;
    }
  }

  // --- HTTP ---

  private grantFor(token: string | undefined): TokenGrant | undefined {
    if (!token) return undefined;
    const grant = this.state.tokens.get(token);
    if (!grant) return undefined;
    if (grant.expiresAt && grant.expiresAt < new Date()) return undefined;
    return grant;
  }

  private rateHeaders(): Record<string, string> {
    return {
      "x-ratelimit-limit": String(this.rate.limit),
      "x-ratelimit-remaining": String(this.rate.remaining),
      "x-ratelimit-used": String(this.rate.limit - this.rate.remaining),
      "x-ratelimit-reset": String(Math.floor(this.rate.resetAt.getTime() / 1000)),
      "x-ratelimit-resource": "graphql",
    };
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const path = url.pathname;
    if (path === "/api/graphql") return this.graphql(req, res);
    if (path.startsWith("/api/v3/")) return this.rest(req, res, path.slice("/api/v3".length));
    const git = /^\/([^/]+)\/([^/]+?)\.git(\/.*)$/.exec(path);
    if (git && git[1] && git[2] && git[3]) return this.git(req, res, git[1], git[2], git[3], url.search.slice(1));
    json(res, 404, { message: "Not Found" });
  }

  private async graphql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") return json(res, 404, { message: "Not Found" });
    const auth = /^(?:token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const grant = this.grantFor(auth?.[1]);
    if (!grant) {
      await readBody(req);
      return json(res, 401, { message: "Bad credentials", documentation_url: "https://docs.github.com/graphql" });
    }
    if (this.rate.remaining <= 0 && this.rate.resetAt > new Date()) {
      await readBody(req);
      return json(res, 403, { message: "API rate limit exceeded" }, this.rateHeaders());
    }
    let request: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      request = JSON.parse((await readBody(req)).toString("utf8")) as typeof request;
    } catch {
      return json(res, 400, { message: "Problems parsing JSON" });
    }
    this.rate.remaining = Math.max(0, this.rate.remaining - 1);
    const operation = /\b(?:query|mutation)\s+(\w+)/.exec(typeof request.query === "string" ? request.query : "")?.[1];
    const hold = operation ? this.holds.get(operation) : undefined;
    if (hold) {
      hold.arrived();
      await hold.released;
    }
    const host: GraphQLHost = {
      state: this.state,
      webUrl: this.url,
      branchExists: async (repo, branch) => (await this.branchSha(repo, branch)) !== undefined,
      branchSha: (repo, branch) => this.branchSha(repo, branch),
    };
    const { result, call } = await runGraphQL(host, grant, request);
    this.graphqlCalls.push(call);
    json(res, 200, result, this.rateHeaders());
  }

  private async git(
    req: IncomingMessage,
    res: ServerResponse,
    owner: string,
    name: string,
    rest: string,
    query: string,
  ) {
    const repo = this.state.repository(owner, name);
    const push = rest.endsWith("/git-receive-pack") || query.includes("service=git-receive-pack");
    const basic = /^basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    let grant: TokenGrant | undefined;
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], "base64").toString("utf8");
      const i = decoded.indexOf(":");
      const user = i < 0 ? decoded : decoded.slice(0, i);
      const password = i < 0 ? "" : decoded.slice(i + 1);
      // GitHub takes the token as the password (any user name) or as the user name alone.
      grant = this.grantFor(password || user);
    }
    const permission = repo && grant ? this.state.permission(grant, repo) : undefined;
    if (!grant || !repo || !atLeast(permission, push ? "WRITE" : "READ")) {
      await readBody(req);
      this.restCalls.push({ method: req.method ?? "GET", path: `git:${owner}/${name}${rest}`, status: 401 });
      res.writeHead(401, { "www-authenticate": 'Basic realm="GitHub"', "content-type": "text/plain" });
      res.end(grant && repo ? "Permission denied\n" : "Invalid username or token.\n");
      return;
    }
    serveGit(req, res, {
      projectRoot: join(this.root.path, "git"),
      pathInfo: `/${repo.owner.toLowerCase()}/${repo.name.toLowerCase()}.git${rest}`,
      query,
      remoteUser: grant.login,
    });
  }

  private async rest(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? "GET";
    const body = await readBody(req);
    const answer = (status: number, value: unknown) => {
      this.restCalls.push({ method, path, status });
      json(res, status, value, this.rateHeaders());
    };
    const app = this.appFromJwt(req.headers.authorization);
    const repoInstallation = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(path);
    const accountInstallation = /^\/(?:orgs|users)\/([^/]+)\/installation$/.exec(path);
    const tokens = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path);
    if (!repoInstallation && !accountInstallation && !tokens) return answer(404, { message: "Not Found" });
    if (!app) return answer(401, { message: "A JSON web token could not be decoded" });
    if (method === "GET" && (repoInstallation || accountInstallation)) {
      const owner = (repoInstallation?.[1] ?? accountInstallation?.[1] ?? "").toLowerCase();
      const full = repoInstallation ? `${owner}/${(repoInstallation[2] ?? "").toLowerCase()}` : undefined;
      const inst = app.installations.find(
        (i) =>
          i.account.toLowerCase() === owner && (!full || i.repositories.map((r) => r.toLowerCase()).includes(full)),
      );
      if (!inst) return answer(404, { message: "Not Found" });
      return answer(200, this.installationJson(app, inst));
    }
    if (method === "POST" && tokens) {
      const inst = app.installations.find((i) => i.id === Number(tokens[1]));
      if (!inst) return answer(404, { message: "Not Found" });
      let request: { repositories?: string[] } = {};
      try {
        if (body.length) request = JSON.parse(body.toString("utf8")) as typeof request;
      } catch {
        return answer(400, { message: "Problems parsing JSON" });
      }
      const allowed = inst.repositories.map((r) => r.toLowerCase());
      const asked = (request.repositories ?? []).map((n) => `${inst.account}/${n}`.toLowerCase());
      if (asked.some((r) => !allowed.includes(r)))
        return answer(422, {
          message:
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        });
      const repositories = asked.length ? asked : allowed;
      const expiresAt = new Date(Date.now() + 3600_000);
      const token = `ghs_${randomBytes(18).toString("hex")}`;
      this.state.tokens.set(token, {
        login: `${app.slug}[bot]`,
        repositories: new Set(repositories),
        permission: "WRITE",
        expiresAt,
      });
      return answer(201, {
        token,
        expires_at: expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
        permissions: { contents: "write", issues: "write", pull_requests: "write", metadata: "read" },
        repository_selection: "selected",
        repositories: repositories.map((r) => ({ full_name: r, name: r.split("/")[1] })),
      });
    }
    return answer(404, { message: "Not Found" });
  }

  private installationJson(app: FakeApp, inst: FakeInstallation): Record<string, unknown> {
    return {
      id: inst.id,
      app_id: app.appId,
      app_slug: app.slug,
      account: { login: inst.account },
      repository_selection: "selected",
      permissions: { contents: "write", issues: "write", pull_requests: "write", metadata: "read" },
    };
  }

  /** The app whose key signed the request's RS256 JWT, when it is valid now. */
  private appFromJwt(authorization: string | undefined): FakeApp | undefined {
    const m = /^bearer\s+([\w-]+)\.([\w-]+)\.([\w-]+)$/i.exec(authorization ?? "");
    if (!m || !m[1] || !m[2] || !m[3]) return undefined;
    let header: { alg?: string };
    let claims: { iss?: string | number; exp?: number; iat?: number };
    try {
      header = JSON.parse(Buffer.from(m[1], "base64url").toString("utf8")) as typeof header;
      claims = JSON.parse(Buffer.from(m[2], "base64url").toString("utf8")) as typeof claims;
    } catch {
      return undefined;
    }
    if (header.alg !== "RS256") return undefined;
    const app = this.state.apps.get(Number(claims.iss));
    if (!app) return undefined;
    const ok = verify("RSA-SHA256", Buffer.from(`${m[1]}.${m[2]}`), app.publicKeyPem, Buffer.from(m[3], "base64url"));
    const now = Math.floor(Date.now() / 1000);
    // GitHub refuses a JWT that expires more than 10 minutes out or has already expired.
    if (!ok || claims.exp === undefined || claims.exp < now || claims.exp > now + 660) return undefined;
    return app;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(value));
}

export type { FakeCheckRun, FakeIssue, FakePullRequest, FakeRepository, FakeReview, Permission, TokenGrant };
