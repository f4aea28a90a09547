import { describe, expect, it } from "vitest";
import { MAX_BODY_CHARS, renderPullRequestBody, smithMarker, type PullRequestReport } from "./pullRequestBody.ts";

const report: PullRequestReport = {
  loopId: "01jabcdefghjkmnpqrstvwxyz0",
  title: "Widgets",
  issue: { ref: "acme/widgets#7", number: 7, sameRepository: true },
  stories: [
    { id: "S1", title: "Model", commit: "0123456789abcdef0123", gates: ["npm test"] },
    { id: "S2", title: "View | `x`", commit: "fedcba9876543210fedc", gates: ["npm test", "npm run lint"] },
  ],
  remaining: [],
  decisions: ["S1: used a Map"],
  uncertain: ["<script>alert(1)</script>"],
  diffStat: " src/a.ts | 10 +++++\n 1 file changed",
  largeFiles: [{ path: "src/big.ts", lines: 412 }],
  cost: { inputTokens: 1200, outputTokens: 300, usd: 0.0123 },
  loopLink: "smithctl describe loop 01jabcdefghjkmnpqrstvwxyz0",
};

describe("renderPullRequestBody", () => {
  it("lists each story with its commit and gates, closes the issue, and carries the loop marker", () => {
    const body = renderPullRequestBody(report);
    expect(body.startsWith(smithMarker(report.loopId))).toBe(true);
    expect(body).toContain("Closes #7");
    expect(body).toContain("| S1 Model | 0123456789ab | npm test |");
    expect(body).toContain("fedcba987654");
    expect(body).toContain("npm test, npm run lint");
    expect(body).toContain("src/big.ts: 412 lines");
    expect(body).toContain("1200 input tokens, 300 output tokens, $0.0123");
    expect(body).toContain("1 file changed");
  });
  it("keeps text from agents from opening HTML or breaking the table", () => {
    const body = renderPullRequestBody(report);
    expect(body).not.toContain("<script>");
    expect(body).toContain("View &#124; &#96;x&#96;");
  });
  it("stays within GitHub's body limit", () => {
    const huge = renderPullRequestBody({
      ...report,
      decisions: Array.from({ length: 2000 }, (_, i) => `d${i} ${"x".repeat(100)}`),
    });
    expect(huge.length).toBeLessThanOrEqual(MAX_BODY_CHARS);
    expect(huge).toContain("truncated");
  });
});
