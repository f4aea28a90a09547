import { TRPCClientError } from "@smith/client";
import { describe, expect, it } from "vitest";
import { explainError, UsageError } from "./errors.ts";

function serverError(message: string, data: Record<string, unknown>): TRPCClientError<never> {
  return TRPCClientError.from({
    error: {
      message,
      code: -32600,
      data: { httpStatus: 400, path: "loops.cancel", stack: null, smith: null, issues: null, ...data },
    },
  });
}

describe("explainError", () => {
  it("usage errors: exit 2 and a pointer to --help", () => {
    expect(explainError(new UsageError('unknown command "x"'))).toEqual({
      lines: ['error: unknown command "x"', "Run 'smithctl --help' for usage."],
      exitCode: 2,
    });
  });

  it("server errors: exit 1 with the tRPC code and the server's message", () => {
    expect(explainError(serverError("loop 01jz0000000000000000000000 not found", { code: "NOT_FOUND" }))).toEqual({
      lines: ["Error from server (NOT_FOUND): loop 01jz0000000000000000000000 not found"],
      exitCode: 1,
    });
  });

  it("a server message that echoes hostile text is printed with its control characters escaped", () => {
    const e = serverError("loop busy: \u001b[2Jtitle\r ALL TESTS PASSED\u202e", {
      code: "CONFLICT",
      issues: [{ path: "title\u001b]0;x\u0007", message: "bad\nline" }],
    });
    expect(explainError(e).lines).toEqual([
      "Error from server (CONFLICT): loop busy: \\x1b[2Jtitle\\r ALL TESTS PASSED\\u202e",
      "  title\\x1b]0;x\\x07: bad\\nline",
    ]);
  });

  it("a single invalid field is the message as it is", () => {
    const e = serverError("reason: a reason is required", {
      code: "BAD_REQUEST",
      issues: [{ path: "reason", message: "a reason is required" }],
    });
    expect(explainError(e).lines).toEqual(["Error from server (BAD_REQUEST): reason: a reason is required"]);
  });

  it("several invalid fields (joined by the server) are printed one per line with their paths", () => {
    const issues = [
      { path: "items.1.spec.repo.url", message: "Too small" },
      { path: "items.1.priority", message: "Too big" },
    ];
    const e = serverError(issues.map((i) => `${i.path}: ${i.message}`).join("; "), { code: "BAD_REQUEST", issues });
    expect(explainError(e).lines).toEqual([
      "Error from server (BAD_REQUEST): 2 invalid fields",
      "  items.1.spec.repo.url: Too small",
      "  items.1.priority: Too big",
    ]);
  });

  it("a domain error with issues prints its message and then the issues", () => {
    const e = serverError("spec.prd.content: the PRD is not ready", {
      code: "BAD_REQUEST",
      issues: [{ path: "spec.prd.content:stories", message: "prd_no_stories: stories is missing" }],
    });
    expect(explainError(e).lines).toEqual([
      "Error from server (BAD_REQUEST): spec.prd.content: the PRD is not ready",
      "  spec.prd.content:stories: prd_no_stories: stories is missing",
    ]);
  });

  it("no answer from the server: says which URL could not be reached and why", () => {
    const socket = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
    const e = TRPCClientError.from(new TypeError("fetch failed", { cause: socket }));
    expect(explainError(e, "http://127.0.0.1:9")).toEqual({
      lines: ["error: cannot reach the Smith API at http://127.0.0.1:9: fetch failed (ECONNREFUSED)"],
      exitCode: 1,
    });
  });

  it("anything else: its message, exit 1", () => {
    expect(explainError(new Error("cannot read --prd x.json: ENOENT"))).toEqual({
      lines: ["error: cannot read --prd x.json: ENOENT"],
      exitCode: 1,
    });
  });
});
