import { stackTest as test } from "./fixtures.ts";
import { describe, expect } from "vitest";
import { branchSubjects, demo, fileOnBranch, replayLoop } from "./support.ts";

describe("end to end with the replay agent", () => {
  test("a 3-story loop reaches synced: one commit per story in order, PRD all done, handoff and journal complete", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir);
    stack.startScheduler();
    const created = await stack.create(replayLoop(d));
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 90_000);
    expect(loop.status).toMatchObject({
      state: "synced",
      reason: "all-stories-passed",
      attempt: 1,
      progress: { done: 3, total: 3 },
    });
    const branch = `smith/${loop.id}`;
    expect(branchSubjects(d.remoteUrl, branch)).toEqual([
      "feat(US-001): Add two numbers",
      "feat(US-002): Multiply two numbers",
      "feat(US-003): Sum a list using add",
    ]);
    const prd = JSON.parse(fileOnBranch(d.remoteUrl, branch, d.prdPath)) as { stories: { status: string }[] };
    expect(prd.stories.map((s) => s.status)).toEqual(["done", "done", "done"]);
    expect(fileOnBranch(d.remoteUrl, branch, ".agents/tasks/progress.md")).toMatch(
      /US-003 \(iteration 3, attempt 1\): passed/,
    );

    const handoffs = await stack.store.handoffs.list(loop.id);
    expect(handoffs).toHaveLength(1);
    expect(handoffs[0]).toMatchObject({ attempt: 1, remaining: [], validation: { state: "passed" } });
    expect(handoffs[0]?.done).toHaveLength(3);
    expect(handoffs[0]?.diffSummary).toMatch(/files changed/);

    const journal = await stack.journal(loop.id);
    expect(journal.map((e) => e.seq)).toEqual(journal.map((_, i) => i + 1));
    const phases = new Set(journal.map((e) => e.phase));
    for (const p of [
      "lifecycle",
      "scheduled",
      "workspace",
      "prd",
      "prompt",
      "agent",
      "gate",
      "commit",
      "push",
      "handoff",
      "finalize",
    ])
      expect(phases).toContain(p);
    const gates = journal.filter((e) => e.phase === "gate");
    expect(gates).toHaveLength(3);
    for (const g of gates) expect(g).toMatchObject({ command: "node --test", exitCode: 0 });
    expect(gates.every((g) => typeof g.durationMs === "number")).toBe(true);
    // The agent's own events are journaled (one tool_use per file it wrote).
    expect(journal.filter((e) => e.phase === "agent" && e.metadata.event === "tool_use").length).toBeGreaterThanOrEqual(
      6,
    );
    // The lock and slots of the finished loop are gone.
    expect(await stack.store.client.getAll().prefix(stack.store.keys.slotsPrefix()).count()).toBe(0);
    expect((await stack.store.locks.inspect(loop.id)).lock).toBeUndefined();
  });

  test("six loops on one repo with a concurrency limit of 1 run one at a time and all reach synced", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir);
    stack.startScheduler({ SMITH_CONCURRENCY_PER_KEY: "1" });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await stack.create(replayLoop(d))).id);
    let maxRunning = 0;
    const sampler = setInterval(() => {
      void stack.store.loops.list({ state: "running" }).then((r) => {
        maxRunning = Math.max(maxRunning, r.items.length);
      });
    }, 50);
    const loops = [];
    try {
      for (const id of ids) loops.push(await stack.waitFor(id, ["synced", "flatline", "cancelled"], 180_000));
    } finally {
      clearInterval(sampler);
    }
    expect(loops.map((l) => l.status.state)).toEqual(Array(6).fill("synced"));
    expect(maxRunning).toBe(1);
    // Strictly one after another: each attempt started after the previous loop finished.
    const spans = loops
      .map((l) => [Date.parse(l.status.attemptStartedAt ?? ""), Date.parse(l.status.finishedAt ?? "")] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]?.[0]).toBeGreaterThanOrEqual(spans[i - 1]?.[1] ?? Infinity);
    for (const l of loops) expect(branchSubjects(d.remoteUrl, `smith/${l.id}`)).toHaveLength(3);
  }, 150_000);
});
