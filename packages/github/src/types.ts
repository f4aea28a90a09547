/** What Smith reads from GitHub, in the shapes its GraphQL documents ask for. */

export interface GitHubLogin {
  login: string;
}

export interface IssueComment {
  id: string;
  body: string;
  url: string;
  createdAt: string;
  author: string | undefined;
}

export interface Issue {
  id: string;
  number: number;
  title: string;
  body: string;
  url: string;
  state: "OPEN" | "CLOSED";
  author: string | undefined;
  labels: string[];
}

export interface IssueWithComments extends Issue {
  comments: IssueComment[];
  /** All comments on the issue; more than `comments.length` when the rest were not fetched. */
  commentCount: number;
}

export interface Repository {
  id: string;
  url: string;
  defaultBranch: string | undefined;
  /** What the token may do on the repository: ADMIN, MAINTAIN, WRITE, TRIAGE, READ. */
  viewerPermission: RepositoryPermission | undefined;
}

export type RepositoryPermission = "ADMIN" | "MAINTAIN" | "WRITE" | "TRIAGE" | "READ";

export interface PullRequest {
  id: string;
  number: number;
  url: string;
  state: "OPEN" | "CLOSED" | "MERGED";
  title: string;
  headRefName: string;
  baseRefName: string;
}

export type ReviewState = "APPROVED" | "CHANGES_REQUESTED" | "COMMENTED" | "DISMISSED" | "PENDING";

export interface Review {
  id: string;
  state: ReviewState;
  body: string;
  submittedAt: string | undefined;
  author: string | undefined;
}

export interface ReviewThread {
  isResolved: boolean;
  isOutdated: boolean;
  path: string;
  line: number | undefined;
  comments: { id: string; body: string; author: string | undefined }[];
}

export type CheckConclusion =
  | "ACTION_REQUIRED"
  | "CANCELLED"
  | "FAILURE"
  | "NEUTRAL"
  | "SKIPPED"
  | "STALE"
  | "STARTUP_FAILURE"
  | "SUCCESS"
  | "TIMED_OUT";

export interface CheckRun {
  name: string;
  status: string;
  conclusion: CheckConclusion | undefined;
  title: string | undefined;
  summary: string | undefined;
  text: string | undefined;
  detailsUrl: string | undefined;
}

export interface PullRequestFeedback {
  pullRequest: PullRequest;
  reviewDecision: "APPROVED" | "CHANGES_REQUESTED" | "REVIEW_REQUIRED" | undefined;
  reviews: Review[];
  reviewThreads: ReviewThread[];
  /** The head commit's check runs. */
  headSha: string | undefined;
  checkRuns: CheckRun[];
}
