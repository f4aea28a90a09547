import { stackTest as test } from "./fixtures.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake, claudeUsageLimit, codexFake, CODEX_USAGE_LIMIT, FAKE_PRD, WORKS } from "./fakes.ts";
import { writeFakeAgent } from "./harness.ts";
import { branchSubjects, demo } from "./support.ts";

const ENDED = ["synced", "flatline", "cancelled"] as const;

/** Appends the story of every run to `runs` (one line per agent run), then runs `action`. */
function logged(runs: string, agent: string, action: string): string {
  return `fs.appendFileSync(${JSON.stringify(runs)}, ${JSON.stringify(agent)} + " " + story + "\\n");\n${action}`;
}

function runsOf(path: string): string[] {
  return readFileSync(path, "utf8").split("\n").filter(Boolean);
}

describe("usage limits: parked until the reset, or a fallback agent", () => {
  test("Claude hits its usage limit on the second story: parked until the reset time it gave, then resumed without redoing the first", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const runs = join(tmpDir, "runs.txt");
    const once = join(tmpDir, "limit-hit");
    // US-002's first run hits the limit, which resets 3 s later; every other run does the work.
    const action = `if (story === "US-002" && !fs.existsSync(${JSON.stringify(once)})) {
  fs.writeFileSync(${JSON.stringify(once)}, "");
  ${claudeUsageLimit("Math.ceil((Date.now() + 3000) / 1000)")}
} else { ${WORKS} }`;
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(logged(runs, "claude", action)));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create({
      spec: { repo: { url: d.remoteUrl }, prd: { kind: "path", path: d.prdPath }, agent: { provider: "claude" } },
    });
    const parked = await stack.waitFor(created.id, ["waiting", ...ENDED], 60_000);
    expect(parked.status).toMatchObject({
      state: "waiting",
      reason: "quota",
      attempt: 1,
      progress: { done: 1, total: 2 },
    });
    expect(parked.status.message).toMatch(/^claude hit its usage limit: You've hit your limit/);
    const resumeAt = Date.parse(parked.status.resumeAt ?? "");
    // The reset time the agent gave (whole seconds), not the default wait.
    expect(resumeAt - Date.parse(parked.status.waitingSince ?? "")).toBeLessThan(5_000);
    // Parked, the loop holds no slot.
    expect(await stack.store.client.getAll().prefix(stack.store.keys.slotsPrefix()).count()).toBe(0);

    const loop = await stack.waitFor(created.id, [...ENDED], 60_000);
    expect(loop.status).toMatchObject({ state: "synced", attempt: 2, progress: { done: 2, total: 2 } });
    // Resumed at or after the reset time, by itself.
    expect(Date.parse(loop.status.attemptStartedAt ?? "")).toBeGreaterThanOrEqual(resumeAt);
    // US-001 ran once: the second attempt took up where the branch was.
    expect(runsOf(runs)).toEqual(["claude US-001", "claude US-002", "claude US-002"]);
    expect(branchSubjects(d.remoteUrl, `smith/${loop.id}`)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
    const journal = await stack.journal(loop.id);
    expect(
      journal.some((e) => e.phase === "reconcile" && /usage limit reset at .*: back in the queue/.test(e.message)),
    ).toBe(true);
  }, 150_000);

  test("Claude's usage limit with a Codex fallback: the next iteration runs Codex, journaled as a failover, and the loop syncs", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const runs = join(tmpDir, "runs.txt");
    const claude = writeFakeAgent(tmpDir, "claude", claudeFake(logged(runs, "claude", claudeUsageLimit())));
    const codex = writeFakeAgent(tmpDir, "codex", codexFake(logged(runs, "codex", WORKS)));
    stack.startScheduler({ SMITH_CLAUDE_BIN: claude, SMITH_CODEX_BIN: codex });
    const created = await stack.create({
      spec: {
        repo: { url: d.remoteUrl },
        prd: { kind: "path", path: d.prdPath },
        agent: { provider: "claude", fallbacks: [{ provider: "codex", model: "gpt-fake" }] },
      },
    });
    const loop = await stack.waitFor(created.id, ["waiting", ...ENDED], 60_000);
    expect(loop.status).toMatchObject({ state: "synced", attempt: 1, iteration: 3, progress: { done: 2, total: 2 } });
    // Once switched, the attempt stays on the fallback.
    expect(runsOf(runs)).toEqual(["claude US-001", "codex US-001", "codex US-002"]);
    expect(branchSubjects(d.remoteUrl, `smith/${loop.id}`)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
    const failovers = (await stack.journal(loop.id)).filter((e) => e.metadata.failover === true);
    expect(failovers).toHaveLength(1);
    expect(failovers[0]?.message).toBe(
      "failover: claude hit its usage limit on iteration 1; the next iteration runs fallback 1, codex (gpt-fake)",
    );
  });

  test("every agent at its limit: parked for limits.quotaWaitMs when none says when it resets", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const claude = writeFakeAgent(tmpDir, "claude", claudeFake(claudeUsageLimit()));
    const codex = writeFakeAgent(tmpDir, "codex", codexFake(CODEX_USAGE_LIMIT));
    stack.startScheduler({ SMITH_CLAUDE_BIN: claude, SMITH_CODEX_BIN: codex });
    const created = await stack.create({
      spec: {
        repo: { url: d.remoteUrl },
        prd: { kind: "path", path: d.prdPath },
        agent: { provider: "claude", fallbacks: [{ provider: "codex" }] },
        limits: { quotaWaitMs: 600_000 },
      },
    });
    const loop = await stack.waitFor(created.id, ["waiting", ...ENDED], 60_000);
    expect(loop.status).toMatchObject({
      state: "waiting",
      reason: "quota",
      iteration: 2,
      progress: { done: 0, total: 2 },
    });
    expect(loop.status.message).toBe(
      "codex hit its usage limit and no fallback agent is left: You've hit your usage limit. Try again later.",
    );
    const wait = Date.parse(loop.status.resumeAt ?? "") - Date.parse(loop.status.waitingSince ?? "");
    expect(wait).toBeGreaterThan(590_000);
    expect(wait).toBeLessThanOrEqual(600_000);
  });
});
