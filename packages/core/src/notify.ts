import { z } from "zod";
import type { Loop, LoopState } from "./loop.ts";

/** Bounds of a loop's notification targets (spec.notify.urls) and of SMITH_NOTIFY_URLS. */
export const NOTIFY_LIMITS = {
  /** Webhook URLs per loop, and in SMITH_NOTIFY_URLS. */
  urls: 5,
  /** One URL's length. */
  urlChars: 2048,
} as const;

/** What is wrong with a notification URL, or undefined when it is acceptable. */
export function notifyUrlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute http(s) URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be an http:// or https:// URL";
  // Credentials in the URL would sit in etcd, in clear, with the loop: a receiver's secret goes in
  // its path or, better, is the signature key (SMITH_NOTIFY_SECRET).
  if (url.username || url.password) return "must not carry a user name or password";
  if (!url.hostname) return "must name a host";
  return undefined;
}

export const NotifyUrl = z
  .string()
  .max(NOTIFY_LIMITS.urlChars, `a notification URL is limited to ${NOTIFY_LIMITS.urlChars} characters`)
  .superRefine((url, ctx) => {
    const problem = notifyUrlProblem(url);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

export const NotifySpec = z.object({
  /** Webhooks told of this loop's transitions into waiting, flatline and synced (besides SMITH_NOTIFY_URLS). */
  urls: z.array(NotifyUrl).max(NOTIFY_LIMITS.urls, `at most ${NOTIFY_LIMITS.urls} notification URLs`).default([]),
});
export type NotifySpec = z.infer<typeof NotifySpec>;

/** The states whose entry is announced. */
export const NOTIFY_STATES = ["waiting", "flatline", "synced"] as const satisfies readonly LoopState[];
export type NotifyState = (typeof NOTIFY_STATES)[number];

export function isNotifyState(state: LoopState): state is NotifyState {
  return (NOTIFY_STATES as readonly string[]).includes(state);
}

/**
 * The key of the loop's last transition into a notified state, computed from the loop alone so
 * that every scheduler that sees the loop names the transition the same: the state, the attempt
 * and when it was entered (`waitingSince` or `finishedAt`, both set by the transition itself).
 * Later writes in the same state (a pull request URL, steering) keep the key; entering the state
 * again (answered and waiting again, a retried flatline, a reopened synced loop) makes a new one.
 * Undefined when the loop is not in a notified state.
 */
export function notifyTransitionKey(loop: Loop): string | undefined {
  const state = loop.status.state;
  if (!isNotifyState(state)) return undefined;
  const since = state === "waiting" ? loop.status.waitingSince : loop.status.finishedAt;
  const at = Date.parse(since ?? loop.status.updatedAt);
  return `${state}-a${loop.status.attempt}-${Number.isNaN(at) ? 0 : at}`;
}

/** When the loop entered its current (notified) state. */
export function notifyEnteredAt(loop: Loop): string {
  const since = loop.status.state === "waiting" ? loop.status.waitingSince : loop.status.finishedAt;
  return since ?? loop.status.updatedAt;
}

/** The JSON body of a notification (docs/operations.md#notifications). */
export interface NotificationBody {
  schemaVersion: 1;
  /** `loop.waiting`, `loop.flatline` or `loop.synced`. */
  event: `loop.${NotifyState}`;
  /** `<loop id>/<transition key>`: the same for every retry, so that a receiver can drop a duplicate. */
  id: string;
  /** When this delivery attempt was signed (ISO); also in the X-Smith-Timestamp header (seconds). */
  sentAt: string;
  loop: {
    id: string;
    title: string | null;
    repo: string;
    state: NotifyState;
    reason: string | null;
    message: string | null;
    question: string | null;
    resumeAt: string | null;
    attempt: number;
    iteration: number;
    progress: { done: number; total: number };
    /** The etcd mod revision of the loop record the notifier saw in this state. */
    revision: string;
    createdAt: string;
    enteredAt: string;
    updatedAt: string;
    pullRequest: string | null;
    costUsd: number;
  };
  /** A one-line summary, so that a Slack incoming webhook shows something readable. */
  text: string;
}

/** Slack's mrkdwn treats these as control characters. */
function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The body announcing `loop`'s entry into its current state; undefined when it is not a notified state. */
export function notificationBody(loop: Loop, revision: string, sentAt: Date): NotificationBody | undefined {
  const state = loop.status.state;
  const key = notifyTransitionKey(loop);
  if (!isNotifyState(state) || key === undefined) return undefined;
  const st = loop.status;
  const title = loop.spec.title ?? null;
  const name = title ? `"${title}" (${loop.id})` : loop.id;
  const why = [st.reason, st.message].filter(Boolean).join(": ");
  const extra =
    state === "waiting" && st.question
      ? ` Question: ${st.question}`
      : state === "waiting" && st.resumeAt
        ? ` Resumes at ${st.resumeAt}.`
        : state === "synced" && st.pullRequest
          ? ` Pull request: ${st.pullRequest.url}`
          : "";
  const text = `Smith loop ${name} is ${state}${why ? ` (${why})` : ""}.${extra}`;
  return {
    schemaVersion: 1,
    event: `loop.${state}`,
    id: `${loop.id}/${key}`,
    sentAt: sentAt.toISOString(),
    loop: {
      id: loop.id,
      title,
      repo: loop.spec.repo.url,
      state,
      reason: st.reason ?? null,
      message: st.message ?? null,
      question: st.question ?? null,
      resumeAt: st.resumeAt ?? null,
      attempt: st.attempt,
      iteration: st.iteration,
      progress: st.progress,
      revision,
      createdAt: st.createdAt,
      enteredAt: notifyEnteredAt(loop),
      updatedAt: st.updatedAt,
      pullRequest: st.pullRequest?.url ?? null,
      costUsd: loop.cost.usd,
    },
    text: slackEscape(text.length > 3000 ? text.slice(0, 2999) + "…" : text),
  };
}
