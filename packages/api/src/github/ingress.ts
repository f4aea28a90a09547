import type { Principal } from "@smith/auth";
import { SmithError, type CreateLoopRequest, type VersionedLoop } from "@smith/core";
import {
  GitHubError,
  actionableFeedback,
  formatIssueRef,
  issueIdempotencyKey,
  parseSlashCommand,
  type CheckRunEvent,
  type IssueCommentEvent,
  type IssueRef,
  type IssuesEvent,
  type PullRequestReviewEvent,
  type RepoRef,
} from "@smith/github";
import type { SmithStore } from "@smith/store";
import type { AuditRecorder } from "../audit.ts";
import type { LoopOperations } from "../operations/loops.ts";
import type { GitHubClients, ResolvedGitHubOptions } from "./options.ts";

/** Who a GitHub user acts as inside Smith: an operator named `github:<login>`. */
export function githubPrincipal(login: string): Principal {
  return { kind: "user", tokenId: "github", name: `github:${login}`, role: "operator" };
}

export interface IssueSource {
  ref: IssueRef;
  title: string;
  cloneUrl: string;
  baseBranch: string | undefined;
}

export type IngressOutcome =
  | { kind: "loop-created"; loopId: string }
  | { kind: "loop-exists"; loopId: string }
  | { kind: "command"; command: string; loopId: string }
  | { kind: "ignored"; why: string }
  | { kind: "denied"; why: string };

export function describeOutcome(o: IngressOutcome): string {
  switch (o.kind) {
    case "loop-created":
      return `loop-created ${o.loopId}`;
    case "loop-exists":
      return `loop-exists ${o.loopId}`;
    case "command":
      return `${o.command} ${o.loopId}`;
    case "ignored":
      return `ignored: ${o.why}`;
    case "denied":
      return `denied: ${o.why}`;
  }
}

const WRITE_PERMISSIONS = new Set(["ADMIN", "MAINTAIN", "WRITE"]);

/**
 * Issues in: loops from labeled issues (webhook, poller, CLI), and `/smith` commands from issue
 * comments by users with write access. One loop per issue: its idempotency key is
 * `github:<owner>/<repo>#<number>`.
 */
export class GitHubIngress {
  readonly options: ResolvedGitHubOptions;
  private readonly store: SmithStore;
  private readonly loops: LoopOperations;
  private readonly audit: AuditRecorder;
  private readonly clients: GitHubClients;

  constructor(deps: {
    options: ResolvedGitHubOptions;
    store: SmithStore;
    loops: LoopOperations;
    audit: AuditRecorder;
    clients: GitHubClients;
  }) {
    this.options = deps.options;
    this.store = deps.store;
    this.loops = deps.loops;
    this.audit = deps.audit;
    this.clients = deps.clients;
  }

  hasLabel(labels: readonly string[]): boolean {
    const wanted = this.options.label.toLowerCase();
    return labels.some((l) => l.toLowerCase() === wanted);
  }

  /** The loop request for an issue: the template's agent, gates and limits; a PRD drafted from the issue. */
  loopRequest(source: IssueSource): CreateLoopRequest {
    const t = this.options.loopTemplate;
    return {
      spec: {
        title: source.title.slice(0, 200),
        repo: { url: source.cloneUrl, ...(source.baseBranch ? { baseBranch: source.baseBranch } : {}) },
        prd: { kind: "issue" },
        ...(t.agent ? { agent: t.agent } : {}),
        ...(t.qualityGates ? { qualityGates: t.qualityGates } : {}),
        ...(t.limits ? { limits: t.limits } : {}),
        ...(t.pullRequest ? { pullRequest: t.pullRequest } : {}),
      },
      source: { type: "github_issue", ref: formatIssueRef(source.ref) },
      idempotencyKey: issueIdempotencyKey(source.ref),
    };
  }

  async createLoop(source: IssueSource, principal: Principal, correlationId: string): Promise<IngressOutcome> {
    const result = await this.loops.create(this.loopRequest(source), principal, correlationId);
    return result.created
      ? { kind: "loop-created", loopId: result.loop.id }
      : { kind: "loop-exists", loopId: result.loop.id };
  }

  /** Reads an issue (and its repository) through the API and makes its loop. */
  async createFromIssue(ref: IssueRef, principal: Principal, correlationId: string): Promise<IngressOutcome> {
    const client = await this.requireClient(ref);
    const [repo, issue] = await Promise.all([
      client.getRepository(ref).catch(githubToSmith),
      client.getIssue(ref).catch(githubToSmith),
    ]);
    return this.createLoop(
      { ref, title: issue.title, cloneUrl: `${repo.url}.git`, baseBranch: repo.defaultBranch },
      principal,
      correlationId,
    );
  }

  /** Loops for every open issue of a repository with `label` (default: the configured one). */
  async ingestRepository(
    repo: RepoRef,
    principal: Principal,
    correlationId: string,
    label = this.options.label,
  ): Promise<{ ref: string; outcome: IngressOutcome }[]> {
    const client = await this.requireClient(repo);
    const [info, issues] = await Promise.all([
      client.getRepository(repo).catch(githubToSmith),
      client.issuesWithLabel(repo, label).catch(githubToSmith),
    ]);
    const results: { ref: string; outcome: IngressOutcome }[] = [];
    for (const issue of issues) {
      const ref = { ...repo, number: issue.number };
      const outcome = await this.createLoop(
        { ref, title: issue.title, cloneUrl: `${info.url}.git`, baseBranch: info.defaultBranch },
        principal,
        correlationId,
      );
      results.push({ ref: formatIssueRef(ref), outcome });
    }
    return results;
  }

  private async requireClient(repo: RepoRef) {
    // No token for the repository is the API's configuration, not the caller's permission.
    if (!(await this.options.token?.(repo)))
      throw new SmithError(
        "unavailable",
        `no GitHub token for ${repo.owner}/${repo.name}: set SMITH_GITHUB_TOKEN or store a github-token or github-app credential for it`,
        { field: "repo" },
      );
    const client = this.clients.for(repo);
    if (!client)
      throw new SmithError(
        "unavailable",
        "no GitHub token is configured for this API (SMITH_GITHUB_TOKEN or a credential)",
        {
          field: "repo",
        },
      );
    return client;
  }

  /** An `issues` event: opened, labeled or reopened with the label makes the issue's loop. */
  async onIssues(event: IssuesEvent, correlationId: string): Promise<IngressOutcome> {
    if (!["opened", "labeled", "reopened"].includes(event.action))
      return { kind: "ignored", why: `action ${event.action}` };
    if (event.issue.pull_request) return { kind: "ignored", why: "a pull request, not an issue" };
    if (!this.hasLabel(event.issue.labels.map((l) => l.name)))
      return { kind: "ignored", why: `no \`${this.options.label}\` label` };
    const ref = { owner: event.repository.owner.login, name: event.repository.name, number: event.issue.number };
    const cloneUrl = event.repository.clone_url ?? `https://${this.options.webHosts[0]}/${ref.owner}/${ref.name}.git`;
    return this.createLoop(
      { ref, title: event.issue.title, cloneUrl, baseBranch: event.repository.default_branch },
      githubPrincipal(event.sender.login),
      correlationId,
    );
  }

  /** An `issue_comment` event: `/smith cancel|retry|steer` from a user with write access. */
  async onIssueComment(event: IssueCommentEvent, correlationId: string, deliveryId: string): Promise<IngressOutcome> {
    if (event.action !== "created") return { kind: "ignored", why: `action ${event.action}` };
    const command = parseSlashCommand(event.comment.body);
    if (!command) return { kind: "ignored", why: "not a /smith command" };
    const repo = { owner: event.repository.owner.login, name: event.repository.name };
    const ref = { ...repo, number: event.issue.number };
    const login = event.comment.user.login;
    const found = await this.store.loops.getByIdempotencyKey(issueIdempotencyKey(ref));
    if (!found) return { kind: "ignored", why: `no loop for ${formatIssueRef(ref)}` };
    const client = this.clients.for(repo);
    let permission: string | undefined;
    try {
      permission = client ? await client.collaboratorPermission(repo, login) : undefined;
    } catch (err) {
      // No token for the repository, or GitHub refusing ours, is "cannot tell": refuse the command.
      if (err instanceof GitHubError && ["not-found", "unauthorized", "forbidden"].includes(err.code))
        permission = undefined;
      else throw err;
    }
    const principal = githubPrincipal(login);
    const auditBase = {
      actor: { type: "operator" as const, id: `github:${login}`, role: "github" },
      action: `loops.${command.command}`,
      loopId: found.loop.id,
      correlationId,
      details: { via: "github", delivery: deliveryId, issue: formatIssueRef(ref), permission: permission ?? "none" },
    };
    if (!permission || !WRITE_PERMISSIONS.has(permission)) {
      const why = client
        ? `${login} has ${permission ?? "no"} access to ${repo.owner}/${repo.name}; write access is needed`
        : "no GitHub token to check the commenter's permission";
      await this.audit.record({ ...auditBase, outcome: "denied", error: "forbidden", reason: why });
      return { kind: "denied", why };
    }
    const reason = command.text || `/smith ${command.command} by ${login} on GitHub`;
    try {
      await this.run(command.command, found, reason, principal, correlationId);
    } catch (err) {
      await this.audit.record({
        ...auditBase,
        outcome: "error",
        error: err instanceof SmithError ? err.code : "internal",
        reason: reason.slice(0, 1000),
      });
      if (err instanceof SmithError && !err.recoverable) return { kind: "ignored", why: err.message };
      throw err;
    }
    await this.audit.record({ ...auditBase, reason: reason.slice(0, 1000) });
    return { kind: "command", command: command.command, loopId: found.loop.id };
  }

  /**
   * `pull_request_review` submitted with changes requested, on a Smith pull request, by someone
   * with write access: the loop gets a review round with the review's text and open threads.
   */
  async onPullRequestReview(
    event: PullRequestReviewEvent,
    correlationId: string,
    deliveryId: string,
  ): Promise<IngressOutcome> {
    if (event.action !== "submitted") return { kind: "ignored", why: `action ${event.action}` };
    if (event.review.state.toLowerCase() !== "changes_requested")
      return { kind: "ignored", why: `a review that ${event.review.state.toLowerCase().replace(/_/g, " ")}` };
    const repo = { owner: event.repository.owner.login, name: event.repository.name };
    return this.reviewRound(repo, event.pull_request, "review", event.review.user.login, correlationId, deliveryId);
  }

  /** `check_run` completed with a failing conclusion on a Smith pull request's head: a review round with its output. */
  async onCheckRun(event: CheckRunEvent, correlationId: string, deliveryId: string): Promise<IngressOutcome> {
    if (event.action !== "completed") return { kind: "ignored", why: `action ${event.action}` };
    const conclusion = (event.check_run.conclusion ?? "").toLowerCase();
    if (!["failure", "timed_out", "action_required", "startup_failure"].includes(conclusion))
      return { kind: "ignored", why: `check run ${conclusion || "without conclusion"}` };
    const repo = { owner: event.repository.owner.login, name: event.repository.name };
    let last: IngressOutcome = { kind: "ignored", why: "no pull request for the check run" };
    for (const pr of event.check_run.pull_requests.slice(0, 10)) {
      last = await this.reviewRound(repo, pr, "checks", undefined, correlationId, deliveryId);
      if (last.kind === "command") return last;
    }
    return last;
  }

  /**
   * The pull request's loop (its head is the loop's work branch `smith/<id>` and the loop
   * recorded that pull request) gets the feedback GitHub holds for it now, if the loop is synced
   * and there is feedback to act on. A review counts only from someone with write access.
   */
  private async reviewRound(
    repo: RepoRef,
    pr: { number: number; head: { ref: string } },
    trigger: "review" | "checks",
    reviewer: string | undefined,
    correlationId: string,
    deliveryId: string,
  ): Promise<IngressOutcome> {
    const id = /^smith\/([0-9a-z]{8,64})$/i.exec(pr.head.ref)?.[1];
    if (!id) return { kind: "ignored", why: `${pr.head.ref} is not a Smith work branch` };
    const found = await this.store.loops.get(id.toLowerCase());
    if (!found || found.loop.status.pullRequest?.number !== pr.number)
      return { kind: "ignored", why: `no loop opened pull request #${pr.number}` };
    if (found.loop.status.state !== "synced")
      return { kind: "ignored", why: `loop ${id} is ${found.loop.status.state}: it publishes again when it syncs` };
    const client = await this.requireClient(repo);
    const actor = reviewer ?? "checks";
    const auditBase = {
      actor: { type: "operator" as const, id: `github:${actor}`, role: "github" },
      action: "loops.review",
      loopId: found.loop.id,
      correlationId,
      details: { via: "github", delivery: deliveryId, pullRequest: pr.number, trigger },
    };
    if (reviewer !== undefined) {
      const permission = await client.collaboratorPermission(repo, reviewer).catch(githubToSmith);
      if (!permission || !WRITE_PERMISSIONS.has(permission)) {
        const why = `${reviewer} has ${permission ?? "no"} access to ${repo.owner}/${repo.name}; write access is needed`;
        await this.audit.record({ ...auditBase, outcome: "denied", error: "forbidden", reason: why });
        return { kind: "denied", why };
      }
    }
    const feedback = actionableFeedback(
      await client.pullRequestFeedback(repo, pr.number).catch(githubToSmith),
      trigger,
    );
    if (!feedback) return { kind: "ignored", why: `nothing to address on pull request #${pr.number}` };
    const result = await this.loops.requestReview(
      found.loop.id,
      feedback,
      githubPrincipal(reviewer ?? "checks"),
      correlationId,
    );
    await this.audit.record({ ...auditBase, reason: feedback.source });
    return {
      kind: "command",
      command: result.loop.status.state === "waiting" ? `review-waiting (${result.loop.status.reason})` : "review",
      loopId: found.loop.id,
    };
  }

  private async run(
    command: "cancel" | "retry" | "steer",
    found: VersionedLoop,
    text: string,
    principal: Principal,
    correlationId: string,
  ): Promise<void> {
    const id = found.loop.id;
    switch (command) {
      case "cancel":
        await this.loops.cancel(id, text, principal, correlationId);
        return;
      case "retry":
        await this.loops.retry(id, text, principal, correlationId);
        return;
      case "steer":
        await this.loops.steer(id, text, principal, correlationId);
        return;
    }
  }
}

/** GitHub's refusals as domain errors, so the API maps them like any other. */
function githubToSmith(err: unknown): never {
  if (!(err instanceof GitHubError)) throw err;
  switch (err.code) {
    case "not-found":
      throw new SmithError("not_found", err.message, { field: "ref" }, { cause: err });
    case "unauthorized":
    case "forbidden":
      throw new SmithError("forbidden", `GitHub refused Smith's token: ${err.message}`, {}, { cause: err });
    case "rate-limited":
      throw new SmithError("unavailable", err.message, { retryAt: err.retryAt?.toISOString() }, { cause: err });
    case "graphql":
    case "unavailable":
      throw new SmithError("unavailable", `GitHub: ${err.message}`, {}, { cause: err });
  }
}
