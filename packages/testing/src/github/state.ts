/** The in-memory GitHub the test server serves: repositories, issues, pull requests, reviews. */

export type Permission = "ADMIN" | "MAINTAIN" | "WRITE" | "TRIAGE" | "READ";
const RANK: Record<Permission, number> = { READ: 1, TRIAGE: 2, WRITE: 3, MAINTAIN: 4, ADMIN: 5 };

export function atLeast(have: Permission | undefined, need: Permission): boolean {
  return have !== undefined && RANK[have] >= RANK[need];
}

export interface FakeComment {
  id: string;
  databaseId: number;
  body: string;
  author: string;
  createdAt: string;
}

export interface FakeIssue {
  id: string;
  number: number;
  title: string;
  body: string;
  state: "OPEN" | "CLOSED";
  author: string;
  labels: string[];
  comments: FakeComment[];
  createdAt: string;
}

export interface FakeReview {
  id: string;
  state: "APPROVED" | "CHANGES_REQUESTED" | "COMMENTED" | "DISMISSED";
  body: string;
  author: string;
  submittedAt: string;
}

export interface FakeReviewThread {
  path: string;
  line?: number;
  isResolved: boolean;
  isOutdated: boolean;
  comments: { id: string; body: string; author: string }[];
}

export interface FakeCheckRun {
  name: string;
  status: "COMPLETED" | "IN_PROGRESS" | "QUEUED";
  conclusion?: "SUCCESS" | "FAILURE" | "CANCELLED" | "TIMED_OUT" | "NEUTRAL" | "SKIPPED" | "ACTION_REQUIRED";
  title?: string;
  summary?: string;
  text?: string;
}

export interface FakePullRequest {
  id: string;
  number: number;
  title: string;
  body: string;
  state: "OPEN" | "CLOSED" | "MERGED";
  headRefName: string;
  baseRefName: string;
  draft: boolean;
  author: string;
  comments: FakeComment[];
  reviews: FakeReview[];
  reviewThreads: FakeReviewThread[];
  /** Check runs by head commit sha. */
  checkRuns: Map<string, FakeCheckRun[]>;
  autoMerge: string | undefined;
  createdAt: string;
  updatedAt: string;
}

export interface FakeRepository {
  id: string;
  owner: string;
  name: string;
  defaultBranch: string;
  /** Issues and pull requests share one number sequence, as on GitHub. */
  nextNumber: number;
  issues: Map<number, FakeIssue>;
  pullRequests: Map<number, FakePullRequest>;
  collaborators: Map<string, Permission>;
}

export interface TokenGrant {
  /** The user (or `<app-slug>[bot]`) the token acts as. */
  login: string;
  /** Repositories (`owner/name`) it may touch, all when undefined. */
  repositories?: Set<string>;
  /** Its permission on those repositories when the user is no collaborator (installation tokens). */
  permission?: Permission;
  expiresAt?: Date;
}

export interface FakeInstallation {
  id: number;
  account: string;
  repositories: string[];
}

export interface FakeApp {
  appId: number;
  slug: string;
  publicKeyPem: string;
  installations: FakeInstallation[];
}

let counter = 0;
/** A node id in GitHub's style (`I_kw…`), unique in the process. */
export function nodeId(prefix: string): string {
  counter++;
  return `${prefix}_kwDO${counter.toString(36).padStart(8, "0")}`;
}

export class GitHubState {
  readonly repositories = new Map<string, FakeRepository>();
  readonly tokens = new Map<string, TokenGrant>();
  readonly apps = new Map<number, FakeApp>();
  private nextCommentId = 1000;

  key(owner: string, name: string): string {
    return `${owner}/${name}`.toLowerCase();
  }

  repository(owner: string, name: string): FakeRepository | undefined {
    return this.repositories.get(this.key(owner, name));
  }

  commentId(): number {
    return this.nextCommentId++;
  }

  /** The permission a token has on a repository, or undefined when it may not see it. */
  permission(grant: TokenGrant, repo: FakeRepository): Permission | undefined {
    if (grant.repositories && !grant.repositories.has(this.key(repo.owner, repo.name))) return undefined;
    if (grant.permission) return grant.permission;
    if (grant.login.toLowerCase() === repo.owner.toLowerCase()) return "ADMIN";
    return repo.collaborators.get(grant.login.toLowerCase());
  }

  /** The issue or pull request a node id names. */
  subject(
    id: string,
  ): { repo: FakeRepository; issue: FakeIssue } | { repo: FakeRepository; pullRequest: FakePullRequest } | undefined {
    for (const repo of this.repositories.values()) {
      for (const issue of repo.issues.values()) if (issue.id === id) return { repo, issue };
      for (const pr of repo.pullRequests.values()) if (pr.id === id) return { repo, pullRequest: pr };
    }
    return undefined;
  }
}
