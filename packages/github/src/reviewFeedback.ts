import { createHash } from "node:crypto";
import type { CheckConclusion, PullRequestFeedback } from "./types.ts";

/** What a round of review asks the loop to address. */
export interface ActionableFeedback {
  /** Who or what asked, e.g. `changes requested by @ana` or `check run ci failed`. */
  source: string;
  /** The text the agent gets: the review and its open threads, or the failing checks' output. */
  feedback: string;
  /** The failure's identity (reviewer or check, and the first line): the same twice waits for a person. */
  fingerprint: string;
}

/** Check conclusions that ask for work. */
const FAILING: ReadonlySet<CheckConclusion> = new Set(["FAILURE", "TIMED_OUT", "ACTION_REQUIRED", "STARTUP_FAILURE"]);

/** Feedback is delivered as a steering message (8 KiB): leave room for its heading. */
const MAX_FEEDBACK = 7 * 1024;

function firstLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ""
  );
}

function fingerprintOf(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 32);
}

function bounded(text: string): string {
  return text.length <= MAX_FEEDBACK ? text : `${text.slice(0, MAX_FEEDBACK - 20)}\n… (cut)`;
}

/**
 * The feedback on a pull request that should reopen its loop, or undefined when there is none:
 * for `review`, the latest review that requested changes (its body and the threads still open on
 * the current code); for `checks`, the head commit's failing check runs (name, title, summary,
 * text). Pure: the caller reads the pull request (GraphQL) and decides what to do.
 */
export function actionableFeedback(
  pr: PullRequestFeedback,
  trigger: "review" | "checks",
): ActionableFeedback | undefined {
  if (trigger === "review") {
    const review = pr.reviews
      .filter((r) => r.state === "CHANGES_REQUESTED")
      .sort((a, b) => (a.submittedAt ?? "").localeCompare(b.submittedAt ?? ""))
      .at(-1);
    if (!review) return undefined;
    const author = review.author ?? "ghost";
    const threads = pr.reviewThreads
      .filter((t) => !t.isResolved && !t.isOutdated)
      .map((t) => {
        const where = `${t.path}${t.line !== undefined ? `:${t.line}` : ""}`;
        return [
          `- ${where}`,
          ...t.comments.map((c) => `  ${c.author ?? "ghost"}: ${c.body.replace(/\r?\n/g, "\n  ")}`),
        ].join("\n");
      });
    const text = [review.body.trim() || "(no summary)", ...(threads.length ? ["", "Open threads:", ...threads] : [])];
    return {
      source: `changes requested by @${author}`,
      feedback: bounded(text.join("\n")),
      fingerprint: fingerprintOf("review", author, firstLine(review.body) || firstLine(threads.join("\n"))),
    };
  }
  const failing = pr.checkRuns.filter((c) => c.conclusion !== undefined && FAILING.has(c.conclusion));
  if (failing.length === 0) return undefined;
  const sorted = [...failing].sort((a, b) => a.name.localeCompare(b.name));
  const text = sorted.map((c) =>
    [
      `## ${c.name}: ${c.conclusion?.toLowerCase()}${c.title ? ` — ${c.title}` : ""}`,
      c.summary?.trim() ?? "",
      c.text?.trim() ?? "",
      c.detailsUrl ? `(${c.detailsUrl})` : "",
    ]
      .filter(Boolean)
      .join("\n"),
  );
  return {
    source: `check run${sorted.length > 1 ? "s" : ""} ${sorted.map((c) => c.name).join(", ")} failed`,
    feedback: bounded(text.join("\n\n")),
    fingerprint: fingerprintOf(
      "checks",
      ...sorted.map((c) => `${c.name}|${firstLine(c.summary ?? "") || firstLine(c.text ?? "") || (c.title ?? "")}`),
    ),
  };
}
