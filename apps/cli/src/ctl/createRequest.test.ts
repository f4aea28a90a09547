import { CreateLoopInput } from "@smith/core";
import { describe, expect, it } from "vitest";
import { buildCreateRequest, checkCreateRequest } from "./createRequest.ts";

describe("buildCreateRequest", () => {
  it("only the given fields: the server's defaults apply to the rest", () => {
    expect(buildCreateRequest({ repo: "https://x/a.git", prdPath: "docs/prd.json" }, undefined)).toEqual({
      spec: { repo: { url: "https://x/a.git" }, prd: { kind: "path", path: "docs/prd.json" } },
    });
  });

  it("--prd sends the file's content inline; every flag lands in its field", () => {
    const request = buildCreateRequest(
      {
        repo: "git@github.com:acme/app.git",
        base: "dev",
        title: "T",
        prdFile: "prd.json",
        agent: "codex",
        maxIterations: 9,
        priority: 7,
        concurrencyKey: "k",
        idempotencyKey: "i",
      },
      '{"stories":[]}',
    );
    expect(request).toEqual({
      spec: {
        title: "T",
        repo: { url: "git@github.com:acme/app.git", baseBranch: "dev" },
        prd: { kind: "inline", content: '{"stories":[]}' },
        agent: { provider: "codex" },
        limits: { maxIterations: 9 },
      },
      priority: 7,
      concurrencyKey: "k",
      idempotencyKey: "i",
    });
    expect(CreateLoopInput.safeParse(request).success).toBe(true);
  });

  it("--agent-command implies the command agent and --replay-dir the replay one, unless --agent says otherwise", () => {
    expect(buildCreateRequest({ repo: "r", prdPath: "p", agentCommand: "./agent.sh" }, undefined).spec.agent).toEqual({
      provider: "command",
      command: "./agent.sh",
    });
    expect(buildCreateRequest({ repo: "r", prdPath: "p", replayDir: "rec" }, undefined).spec.agent).toEqual({
      provider: "replay",
      replayDir: "rec",
    });
    expect(
      buildCreateRequest({ repo: "r", prdPath: "p", agent: "claude", replayDir: "rec" }, undefined).spec.agent,
    ).toEqual({ provider: "claude", replayDir: "rec" });
  });

  it("checkCreateRequest names the flag of a bad field, with the schema's limit", () => {
    const ok = { repo: "https://x/a.git", prdPath: "p" };
    expect(() =>
      checkCreateRequest(buildCreateRequest({ ...ok, maxAttempts: 4, gates: ["npm test"] }, undefined)),
    ).not.toThrow();
    expect(() => checkCreateRequest(buildCreateRequest({ ...ok, maxAttempts: 21 }, undefined))).toThrow(
      /^--max-attempts: Too big: expected number to be <=20$/,
    );
    expect(() => checkCreateRequest(buildCreateRequest({ ...ok, gates: ["a", ""] }, undefined))).toThrow(
      /^--gate \(gate 2\): /,
    );
    expect(() => checkCreateRequest(buildCreateRequest({ ...ok, timeoutMs: 10 }, undefined))).toThrow(
      "--timeout: must be between 1s and 7d",
    );
    expect(() => checkCreateRequest(buildCreateRequest({ ...ok, repo: "" }, undefined))).toThrow(/^--repo: /);
  });
});
