import { CreateLoopInput } from "@smith/core";
import { describe, expect, it } from "vitest";
import { buildCreateRequest } from "./createRequest.ts";

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
});
