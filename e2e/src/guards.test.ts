import { stackTest as test } from "./fixtures.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake, CLAIMS_ONLY, FAKE_PRD, WORKS } from "./fakes.ts";
import { writeFakeAgent } from "./harness.ts";
import { demo } from "./support.ts";

const NOTHING = `/* changes nothing */`;

const cases = [
  {
    name: "cost budget",
    action: CLAIMS_ONLY,
    usd: 0.6,
    limits: { maxCostUsd: 1, maxConsecutiveFailures: 10 },
    reason: "budget-exceeded",
    iterations: 2,
  },
  {
    name: "no progress",
    action: NOTHING,
    usd: 0,
    limits: { noProgressIterations: 2, maxConsecutiveFailures: 10 },
    reason: "no-progress",
    iterations: 2,
  },
  {
    name: "max iterations",
    action: CLAIMS_ONLY,
    usd: 0,
    limits: { maxIterations: 3, maxConsecutiveFailures: 10 },
    reason: "max-iterations-reached",
    iterations: 3,
  },
] as const;

describe("replica guards, end to end", () => {
  for (const c of cases) {
    test(`${c.name}: flatline with ${c.reason}`, async ({ stack, tmpDir }) => {
      const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
      const bin = writeFakeAgent(tmpDir, "claude", claudeFake(c.action, { usd: c.usd }));
      stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
      const created = await stack.create({
        spec: {
          repo: { url: d.remoteUrl },
          prd: { kind: "path", path: d.prdPath },
          agent: { provider: "claude" },
          limits: c.limits,
        },
      });
      const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 60_000);
      expect(loop.status).toMatchObject({ state: "flatline", reason: c.reason, iteration: c.iterations });
      expect((await stack.store.handoffs.list(loop.id))[0]?.remaining).toHaveLength(2);
    });
  }

  test("a steering message sent before the run reaches the next prompt and is acknowledged", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const prompts = join(tmpDir, "prompts.txt");
    const bin = writeFakeAgent(
      tmpDir,
      "claude",
      claudeFake(`fs.appendFileSync(${JSON.stringify(prompts)}, prompt + "\\n=====\\n");\n${WORKS}`),
    );
    const created = await stack.create({
      spec: { repo: { url: d.remoteUrl }, prd: { kind: "path", path: d.prdPath }, agent: { provider: "claude" } },
    });
    await stack.admin.loops.steer.mutate({ id: created.id, message: "use tabs, not spaces" });
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 60_000);
    expect(loop.status.state).toBe("synced");
    const [first, second] = readFileSync(prompts, "utf8").split("\n=====\n");
    expect(first).toContain("use tabs, not spaces");
    expect(second).not.toContain("use tabs, not spaces");
    expect(loop.steering).toEqual([]);
    expect(
      (await stack.journal(loop.id)).some((e) => e.phase === "steer" && /delivered to iteration 1/.test(e.message)),
    ).toBe(true);
  });
});
