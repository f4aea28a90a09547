import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

/** `sha256=<hex>` of the raw body, as GitHub sends it in `X-Hub-Signature-256`. */
export function signWebhook(secret: string, body: Uint8Array | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * Whether `header` is the HMAC SHA-256 of the raw body under `secret`. The comparison is
 * constant-time, so the time it takes says nothing about how much of a forged signature matched.
 */
export function verifyWebhookSignature(secret: string, body: Uint8Array, header: string | undefined): boolean {
  if (!header || !header.startsWith("sha256=")) return false;
  const given = Buffer.from(header.slice("sha256=".length), "hex");
  const expected = createHmac("sha256", secret).update(body).digest();
  // A wrong length would throw in timingSafeEqual; the length of a digest is no secret.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const Login = z.object({ login: z.string().min(1).max(100) });
const Label = z.object({ name: z.string().max(256) });

export const WebhookRepository = z.object({
  name: z.string().min(1).max(100),
  full_name: z.string().max(201).optional(),
  owner: Login,
  clone_url: z.string().max(2048).optional(),
  html_url: z.string().max(2048).optional(),
  default_branch: z.string().max(255).optional(),
});

export const WebhookIssue = z.object({
  node_id: z.string().max(256).optional(),
  number: z.number().int().min(1),
  title: z.string().max(1024),
  html_url: z.string().max(2048).optional(),
  state: z.string().max(32).optional(),
  updated_at: z.string().max(64).optional(),
  labels: z.array(Label).max(100).default([]),
  /** Present when the "issue" is a pull request (GitHub sends PR comments as issue_comment). */
  pull_request: z.object({}).passthrough().optional(),
});

export const IssuesEvent = z.object({
  action: z.string().max(64),
  issue: WebhookIssue,
  label: Label.optional(),
  repository: WebhookRepository,
  sender: Login,
});
export type IssuesEvent = z.infer<typeof IssuesEvent>;

export const IssueCommentEvent = z.object({
  action: z.string().max(64),
  issue: WebhookIssue,
  comment: z.object({
    id: z.number().int().optional(),
    body: z.string().max(65_536),
    user: Login,
    html_url: z.string().max(2048).optional(),
    created_at: z.string().max(64).optional(),
  }),
  repository: WebhookRepository,
  sender: Login,
});
export type IssueCommentEvent = z.infer<typeof IssueCommentEvent>;

const WebhookPullRequestRef = z.object({
  number: z.number().int().min(1),
  head: z.object({ ref: z.string().max(255), sha: z.string().max(64).optional() }),
});

/** A review submitted on a pull request (`pull_request_review`). */
export const PullRequestReviewEvent = z.object({
  action: z.string().max(64),
  review: z.object({
    id: z.number().int().optional(),
    /** `approved`, `changes_requested`, `commented` (GitHub's webhook spelling). */
    state: z.string().max(64),
    body: z.string().max(65_536).nullable().optional(),
    user: Login,
    submitted_at: z.string().max(64).optional(),
  }),
  pull_request: WebhookPullRequestRef,
  repository: WebhookRepository,
  sender: Login,
});
export type PullRequestReviewEvent = z.infer<typeof PullRequestReviewEvent>;

/** A check run that changed (`check_run`); `pull_requests` are the open PRs of its head. */
export const CheckRunEvent = z.object({
  action: z.string().max(64),
  check_run: z.object({
    name: z.string().max(256),
    status: z.string().max(64).optional(),
    conclusion: z.string().max(64).nullable().optional(),
    head_sha: z.string().max(64).optional(),
    completed_at: z.string().max(64).nullable().optional(),
    pull_requests: z.array(WebhookPullRequestRef).max(100).default([]),
  }),
  repository: WebhookRepository,
  sender: Login,
});
export type CheckRunEvent = z.infer<typeof CheckRunEvent>;

/**
 * When the event a delivery reports happened, as its payload says (the issue's last update, the
 * comment's creation, the review's submission, the check's completion); undefined when it does
 * not say. A delivery of an old event is a replay: the webhook refuses it past its replay window.
 */
export function eventTime(
  event: IssuesEvent | IssueCommentEvent | PullRequestReviewEvent | CheckRunEvent,
): Date | undefined {
  const text =
    "comment" in event
      ? event.comment.created_at
      : "review" in event
        ? event.review.submitted_at
        : "check_run" in event
          ? (event.check_run.completed_at ?? undefined)
          : event.issue.updated_at;
  const ms = text ? Date.parse(text) : Number.NaN;
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** The `issues` actions that may start a loop. */
export const LOOP_STARTING_ACTIONS = ["opened", "labeled", "reopened"] as const;

export type SlashCommand =
  { command: "cancel"; text: string } | { command: "retry"; text: string } | { command: "steer"; text: string };

/**
 * A `/smith cancel|retry|steer <text>` command on the first non-empty line of a comment;
 * undefined for any other comment. For steer the text is everything after the verb, later lines
 * included; for cancel and retry it is an optional reason.
 */
export function parseSlashCommand(body: string): SlashCommand | undefined {
  const trimmed = body.replace(/^\s+/, "");
  const m = /^\/smith[ \t]+(cancel|retry|steer)\b[ \t]*([\s\S]*)$/.exec(trimmed);
  if (!m || !m[1]) return undefined;
  const text = (m[2] ?? "").trim();
  const command = m[1] as SlashCommand["command"];
  if (command === "steer" && text === "") return undefined;
  return { command, text };
}
