import { join } from "node:path";
import { describe, expect } from "vitest";
import { stackTest as test } from "./fixtures.ts";

describe("a clone a retry cannot fix", () => {
  test("a missing repository flatlines at once with clone-failed and git's message, on attempt 1", async ({
    stack,
    tmpDir,
  }) => {
    stack.startScheduler({});
    const created = await stack.create({
      spec: {
        repo: { url: join(tmpDir, "no-such-repo.git") },
        prd: { kind: "path" },
        agent: { provider: "replay" },
        limits: { maxAttempts: 3 },
      },
    });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled", "waiting"], 60_000);
    expect(loop.status).toMatchObject({ state: "flatline", reason: "clone-failed", attempt: 1 });
    expect(loop.status.message).toMatch(/does not exist/);
  });
});
