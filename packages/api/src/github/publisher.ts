import { SmithError, workBranchOf, type Loop, type PullRequestRef } from "@smith/core";
import {
  GitHubError,
  parseIssueRef,
  renderPullRequestBody,
  repoFromUrl,
  smithMarker,
  type GitHubClient,
  type PullRequest,
  type PullRequestReport,
  type RepoRef,
} from "@smith/github";
import type { SmithStore } from "@smith/store";
import { z } from "zod";
import type { GitHubClients, ResolvedGitHubOptions } from "./options.ts";

const Line = z.string().max(2000);

/** What a replica reports for the pull request body; the API adds the cost, the issue and the link. */
export const PullRequestReportInput = z.object({
  stories: z
    .array(
      z.object({
        id: z.string().min(1).max(128),
        title: z.string().max(500),
        commit: z
          .string()
          .regex(/^[0-9a-f]{7,64}$/)
          .optional(),
        gates: z.array(z.string().max(1000)).max(50),
      }),
    )
    .max(500),
  remaining: z.array(Line).max(500).default([]),
  decisions: z.array(Line).max(100).default([]),
  uncertain: z.array(Line).max(100).default([]),
  diffStat: z
    .string()
    .max(32 * 1024)
    .default(""),
  largeFiles: z
    .array(z.object({ path: z.string().max(1024), lines: z.number().int().min(0) }))
    .max(200)
    .default([]),
});
export type PullRequestReportInput = z.infer<typeof PullRequestReportInput>;

export interface SourceIssue {
  ref: string;
  url: string;
  title: string;
  body: string;
  labels: string[];
  comments: { author: string; body: string }[];
}

export type PublishResult =
  | { published: true; pullRequest: PullRequestRef; created: boolean; issueCommented: boolean; autoMerge: boolean }
  | { published: false; why: string };

/**
 * Pull requests out: at `synced`, the work branch's pull request is opened, or the open one for
 * that head is updated (so a retried attempt never opens a second), its URL stored on the loop,
 * and the source issue told once.
 */
export class GitHubPublisher {
  private readonly options: ResolvedGitHubOptions;
  private readonly store: SmithStore;
  private readonly clients: GitHubClients;

  constructor(deps: { options: ResolvedGitHubOptions; store: SmithStore; clients: GitHubClients }) {
    this.options = deps.options;
    this.store = deps.store;
    this.clients = deps.clients;
  }

  private target(loop: Loop): { repo: RepoRef; client: GitHubClient } | { why: string } {
    const repo = repoFromUrl(loop.spec.repo.url, this.options.webHosts);
    if (!repo) return { why: "not a GitHub remote: the work branch is the result" };
    const client = this.clients.for(repo);
    if (!client) return { why: "no GitHub token for the repository" };
    return { repo, client };
  }

  private loopLink(loop: Loop): string {
    return this.options.loopLinkTemplate.replaceAll("{id}", loop.id);
  }

  /**
   * For the replica of `attempt`: refused (stale_attempt) unless it is the loop's current,
   * running attempt, so a replica that lost its lock cannot touch the pull request. The result
   * is journaled, fenced like the replica's own entries.
   */
  async publishFor(
    loopId: string,
    attempt: number,
    report: PullRequestReportInput,
    correlationId: string,
  ): Promise<PublishResult> {
    const { loop } = await this.store.loops.getOrThrow(loopId);
    if (loop.status.attempt !== attempt || loop.status.state !== "running")
      throw new SmithError("stale_attempt", `loop ${loopId}: attempt ${attempt} is not the running attempt`, {
        field: "attempt",
      });
    const result = await this.publish(loop, report);
    await this.store.journal.append(
      loopId,
      [
        {
          phase: "handoff",
          actor: { type: "replica", id: `attempt-${attempt}` },
          message: result.published
            ? `pull request #${result.pullRequest.number} ${result.created ? "opened" : "updated"}: ${result.pullRequest.url}${result.issueCommented ? " (issue told)" : ""}${result.autoMerge ? " (auto-merge on)" : ""}`
            : `no pull request: ${result.why}`,
          metadata: result.published
            ? { pullRequest: result.pullRequest, created: result.created }
            : { why: result.why },
        },
      ],
      { fence: await this.store.locks.fence(loopId, attempt), correlationId },
    );
    return result;
  }

  async publish(loop: Loop, report: PullRequestReportInput): Promise<PublishResult> {
    const target = this.target(loop);
    if ("why" in target) return { published: false, why: target.why };
    const { repo, client } = target;
    const issue = loop.source.type === "github_issue" && loop.source.ref ? parseIssueRef(loop.source.ref) : undefined;
    const full: PullRequestReport = {
      ...report,
      loopId: loop.id,
      title: loop.spec.title ?? `Smith loop ${loop.id}`,
      issue: issue
        ? {
            ref: loop.source.ref ?? "",
            number: issue.number,
            sameRepository:
              issue.owner.toLowerCase() === repo.owner.toLowerCase() &&
              issue.name.toLowerCase() === repo.name.toLowerCase(),
          }
        : undefined,
      cost: { inputTokens: loop.cost.inputTokens, outputTokens: loop.cost.outputTokens, usd: loop.cost.usd },
      loopLink: this.loopLink(loop),
    };
    const body = renderPullRequestBody(full);
    const head = workBranchOf(loop);
    const title = full.title.slice(0, 256);
    let pr: PullRequest;
    let created = false;
    try {
      const existing = await client.findPullRequest(repo, head);
      if (existing) pr = await client.updatePullRequest({ pullRequestId: existing.id, title, body });
      else {
        const info = await client.getRepository(repo);
        try {
          pr = await client.createPullRequest({
            repositoryId: info.id,
            base: loop.spec.repo.baseBranch,
            head,
            title,
            body,
          });
          created = true;
        } catch (err) {
          // Another attempt (or API process) opened it between our look and our create: update that one.
          const raced = err instanceof GitHubError && /already exists/i.test(err.message);
          const again = raced ? await client.findPullRequest(repo, head) : undefined;
          if (!again) throw err;
          pr = await client.updatePullRequest({ pullRequestId: again.id, title, body });
        }
      }
    } catch (err) {
      throw toSmithError(err);
    }
    const ref: PullRequestRef = { url: pr.url, number: pr.number, id: pr.id };
    await this.store.loops.update(loop.id, (l) => ({ ...l, status: { ...l.status, pullRequest: ref } }));
    let autoMerge = false;
    if (loop.spec.pullRequest?.autoMerge) {
      // Auto-merge needs branch protection on the base; without it GitHub refuses, which leaves an open PR.
      autoMerge = await client.enableAutoMerge(pr.id).then(
        () => true,
        () => false,
      );
    }
    const issueCommented = issue
      ? await this.commentOnce(client, issue, `${smithMarker(loop.id)}<!-- pr=${pr.number} -->`, () =>
          [`Smith opened ${pr.url} for this issue (loop \`${loop.id}\`).`, "", this.loopLink(loop)].join("\n"),
        )
      : false;
    return { published: true, pullRequest: ref, created, issueCommented, autoMerge };
  }

  /**
   * The source issue of a `github_issue` loop, for the replica that drafts its PRD: title, body
   * and comments (bounded), read for the loop's current running attempt only.
   */
  async sourceIssueFor(loopId: string, attempt: number): Promise<SourceIssue> {
    const { loop } = await this.store.loops.getOrThrow(loopId);
    if (loop.status.attempt !== attempt || loop.status.state !== "running")
      throw new SmithError("stale_attempt", `loop ${loopId}: attempt ${attempt} is not the running attempt`, {
        field: "attempt",
      });
    const ref = loop.source.type === "github_issue" && loop.source.ref ? parseIssueRef(loop.source.ref) : undefined;
    if (!ref)
      throw new SmithError("invalid_argument", `loop ${loopId} does not come from a GitHub issue`, { field: "source" });
    const client = this.clients.for(ref);
    if (!client) throw new SmithError("unavailable", "no GitHub token is configured for this API", { field: "source" });
    let issue;
    try {
      issue = await client.getIssue(ref);
    } catch (err) {
      throw toSmithError(err);
    }
    return {
      ref: loop.source.ref ?? "",
      url: issue.url,
      title: issue.title,
      // Bounded so that a PRD prompt stays far below an agent's context and etcd's request limit.
      body: issue.body.slice(0, 32 * 1024),
      labels: issue.labels,
      comments: issue.comments
        .slice(-50)
        .map((c) => ({ author: c.author ?? "ghost", body: c.body.slice(0, 8 * 1024) })),
    };
  }

  /**
   * Tells the source issue that the loop gave up at `attempt`, with the reason it had then: once
   * per attempt, the comment's marker keeping a repeated call (a sender that died after
   * commenting) from commenting twice. `skipped` when there is nothing to tell (no issue, not a
   * GitHub remote, no token); a GitHub failure throws (recoverable ones are `unavailable`).
   */
  async tellFlatline(
    loop: Loop,
    flatline: { attempt: number; reason: string; message?: string },
  ): Promise<"commented" | "present" | { skipped: string }> {
    const issue = loop.source.type === "github_issue" && loop.source.ref ? parseIssueRef(loop.source.ref) : undefined;
    if (!issue) return { skipped: "the loop does not come from a GitHub issue" };
    const target = this.target(loop);
    if ("why" in target) return { skipped: target.why };
    const { message } = flatline;
    const commented = await this.commentOnce(
      target.client,
      issue,
      `${smithMarker(loop.id)}<!-- flatline attempt=${flatline.attempt} -->`,
      () =>
        [
          `Smith's loop \`${loop.id}\` stopped without finishing: **${flatline.reason}**.`,
          message ? `\n> ${message.replace(/\r?\n/g, "\n> ").slice(0, 2000)}` : "",
          "",
          `\`/smith retry <reason>\` in a comment starts it again. ${this.loopLink(loop)}`,
        ].join("\n"),
    );
    return commented ? "commented" : "present";
  }

  /** Comments unless a comment with `marker` is already there (a retried call writes nothing new). */
  private async commentOnce(
    client: GitHubClient,
    issue: { owner: string; name: string; number: number },
    marker: string,
    text: () => string,
  ): Promise<boolean> {
    try {
      const current = await client.getIssue(issue);
      if (current.comments.some((c) => c.body.includes(marker))) return false;
      await client.addComment(current.id, `${marker}\n${text()}`);
      return true;
    } catch (err) {
      throw toSmithError(err);
    }
  }
}

function toSmithError(err: unknown): unknown {
  if (!(err instanceof GitHubError)) return err;
  return new SmithError(
    err.recoverable ? "unavailable" : "invalid_argument",
    `GitHub: ${err.message}`,
    { field: "pullRequest", ...(err.retryAt ? { retryAt: err.retryAt.toISOString() } : {}) },
    { cause: err },
  );
}
