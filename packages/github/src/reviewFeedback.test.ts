import { describe, expect, it } from "vitest";
import { actionableFeedback } from "./reviewFeedback.ts";
import type { PullRequestFeedback } from "./types.ts";

const base: PullRequestFeedback = {
  pullRequest: {
    id: "PR_1",
    number: 4,
    url: "https://github.com/acme/app/pull/4",
    state: "OPEN",
    title: "t",
    headRefName: "smith/01abc",
    baseRefName: "main",
  },
  reviewDecision: undefined,
  reviews: [],
  reviewThreads: [],
  headSha: "abc",
  checkRuns: [],
};

describe("actionableFeedback", () => {
  it("a review: the latest that requested changes, with the threads still open on the current code", () => {
    const pr: PullRequestFeedback = {
      ...base,
      reviews: [
        { id: "r1", state: "CHANGES_REQUESTED", body: "old", submittedAt: "2026-01-01T00:00:00Z", author: "ana" },
        { id: "r2", state: "APPROVED", body: "ok", submittedAt: "2026-01-03T00:00:00Z", author: "bob" },
        {
          id: "r3",
          state: "CHANGES_REQUESTED",
          body: "\nRename it.\nPlease.",
          submittedAt: "2026-01-02T00:00:00Z",
          author: "ana",
        },
      ],
      reviewThreads: [
        {
          isResolved: false,
          isOutdated: false,
          path: "a.ts",
          line: 3,
          comments: [{ id: "c", body: "here", author: "ana" }],
        },
        {
          isResolved: true,
          isOutdated: false,
          path: "b.ts",
          line: 1,
          comments: [{ id: "d", body: "done", author: "ana" }],
        },
        {
          isResolved: false,
          isOutdated: true,
          path: "c.ts",
          line: 9,
          comments: [{ id: "e", body: "old code", author: "ana" }],
        },
      ],
    };
    const f = actionableFeedback(pr, "review");
    expect(f?.source).toBe("changes requested by @ana");
    expect(f?.feedback).toBe("Rename it.\nPlease.\n\nOpen threads:\n- a.ts:3\n  ana: here");
    // The fingerprint is the reviewer and the first line: the same request again is the same failure.
    const again = actionableFeedback(
      {
        ...pr,
        reviews: [
          {
            id: "r9",
            state: "CHANGES_REQUESTED",
            body: "Rename it.\nReally.",
            submittedAt: "2026-01-09T00:00:00Z",
            author: "ana",
          },
        ],
      },
      "review",
    );
    expect(again?.fingerprint).toBe(f?.fingerprint);
    expect(actionableFeedback({ ...pr, reviews: [] }, "review")).toBeUndefined();
  });

  it("checks: the failing runs, sorted, bounded; passing and neutral ones are no feedback", () => {
    const pr: PullRequestFeedback = {
      ...base,
      checkRuns: [
        {
          name: "lint",
          status: "COMPLETED",
          conclusion: "SUCCESS",
          title: undefined,
          summary: undefined,
          text: undefined,
          detailsUrl: undefined,
        },
        {
          name: "test",
          status: "COMPLETED",
          conclusion: "FAILURE",
          title: "2 failed",
          summary: "TypeError: x\nat y",
          text: "x".repeat(20_000),
          detailsUrl: "https://ci/1",
        },
        {
          name: "e2e",
          status: "COMPLETED",
          conclusion: "TIMED_OUT",
          title: undefined,
          summary: undefined,
          text: undefined,
          detailsUrl: undefined,
        },
      ],
    };
    const f = actionableFeedback(pr, "checks");
    const test = pr.checkRuns[1];
    if (!test) throw new Error("no test run");
    expect(f?.source).toBe("check runs e2e, test failed");
    expect(f?.feedback.startsWith("## e2e: timed_out\n\n## test: failure — 2 failed\nTypeError: x\nat y")).toBe(true);
    expect(f?.feedback.length).toBeLessThanOrEqual(7 * 1024);
    expect(f?.feedback.endsWith("… (cut)")).toBe(true);
    expect(actionableFeedback({ ...pr, checkRuns: pr.checkRuns.slice(0, 1) }, "checks")).toBeUndefined();
    const other = actionableFeedback({ ...pr, checkRuns: [{ ...test, summary: "AssertionError: y" }] }, "checks");
    expect(other?.fingerprint).not.toBe(actionableFeedback({ ...pr, checkRuns: [test] }, "checks")?.fingerprint);
  });
});
