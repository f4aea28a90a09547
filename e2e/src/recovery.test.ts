import { mintReplicaToken } from "@smith/auth";
import { createSmithClient } from "@smith/client";
import { stackTest as test } from "./fixtures.ts";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake, FAKE_PRD, waitsOn } from "./fakes.ts";
import { SIGNING_KEY, Stack, writeFakeAgent } from "./harness.ts";
import { branchSubjects, demo, replayLoop } from "./support.ts";

describe("crash recovery", () => {
  test("kill -9 the replica after story 1 is pushed: the retry resumes from the remote branch without redoing it", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const go = join(tmpDir, "go");
    const pidFile = join(tmpDir, "agent.pid");
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(waitsOn("US-002", go, pidFile)));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create({
      spec: { repo: { url: d.remoteUrl }, prd: { kind: "path", path: d.prdPath }, agent: { provider: "claude" } },
    });
    // Story 1 is pushed and the agent is working on story 2.
    await stack.waitUntil(async () => existsSync(pidFile), 60_000, "the agent to start on US-002");
    expect(branchSubjects(d.remoteUrl, `smith/${created.id}`)).toEqual(["feat(US-001): First"]);
    const [replica] = (await stack.replicas()).filter((r) => r.status.phase === "running");
    if (!replica) throw new Error("no running replica");
    const record = JSON.parse(
      readFileSync(join(tmpDir, "state", "replicas", replica.handle.id, "record.json"), "utf8"),
    ) as { pid: number };
    // kill -9 the replica's whole process group (wrapper, replica and agent) at once.
    process.kill(-record.pid, "SIGKILL");
    writeFileSync(go, "");
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 90_000);
    expect(loop.status).toMatchObject({ state: "synced", attempt: 2 });
    expect(branchSubjects(d.remoteUrl, `smith/${loop.id}`)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
    const journal = await stack.journal(loop.id);
    expect(journal.some((e) => e.phase === "reconcile" && /replica lost on attempt 1/.test(e.message))).toBe(true);
    expect(journal.some((e) => e.phase === "workspace" && /resumed branch/.test(e.message))).toBe(true);
    // Attempt 2 worked only on US-002.
    const prompts = journal
      .filter((e) => e.phase === "prompt")
      .map((e) => `${e.actor.id}:${String(e.metadata.storyId)}`);
    expect(prompts.filter((p) => p.startsWith("attempt-2"))).toEqual(["attempt-2:US-002"]);

    // A replica of the old attempt that writes after the new attempt started is refused.
    const stale = createSmithClient({
      url: stack.url,
      token: mintReplicaToken(SIGNING_KEY, { loopId: loop.id, attempt: 1, ttlSeconds: 60 }),
    });
    const head = (await stack.store.journal.head(loop.id)).seq;
    await expect(
      stale.replica.appendJournal.mutate({
        loopId: loop.id,
        entries: [{ phase: "agent", actor: { type: "agent", id: "old" }, message: "late" }],
      }),
    ).rejects.toMatchObject({
      data: { code: "CONFLICT" },
    });
    await expect(
      stale.replica.finalize.mutate({ loopId: loop.id, outcome: "flatline", reason: "no-progress" }),
    ).rejects.toMatchObject({ data: { code: "CONFLICT" } });
    expect((await stack.store.journal.head(loop.id)).seq).toBe(head);
  });

  test("three schedulers with state dirs of their own (as on three machines), 30 loops, no faults: no attempt lost", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir);
    const schedulers = [0, 1, 2].map((i) => {
      const stateDir = join(tmpDir, `machine-${i}`);
      mkdirSync(stateDir);
      // The production start grace: 30 replicas starting on 2 shared cores may take more than the
      // harness's 15 s to take their locks, which is slowness, not a lost attempt.
      return stack.startScheduler({
        SMITH_STATE_DIR: stateDir,
        SMITH_START_GRACE_MS: "60000",
        SMITH_CONCURRENCY_PER_KEY: "1",
      });
    });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await stack.create(replayLoop(d, { concurrencyKey: `k${i % 10}` }))).id);
    const loops = [];
    for (const id of ids) loops.push(await stack.waitFor(id, ["synced", "flatline", "cancelled"], 240_000));
    const notSynced = loops.filter((l) => l.status.state !== "synced");
    const why = await Promise.all(
      notSynced.map(async (l) =>
        [`${l.id} ${l.status.state} (${l.status.reason}): ${l.status.message ?? ""}`]
          .concat((await stack.journal(l.id)).slice(-8).map((e) => `  ${e.phase} ${e.message.slice(0, 300)}`))
          .join("\n"),
      ),
    );
    expect(why.join("\n")).toBe("");
    // Every loop on its first attempt, and no reconcile entry: no scheduler judged another's replica.
    expect(loops.filter((l) => l.status.attempt !== 1).map((l) => l.id)).toEqual([]);
    const hosts = new Set<string>();
    for (const l of loops) {
      const journal = await stack.journal(l.id);
      expect(journal.filter((e) => e.phase === "reconcile")).toEqual([]);
      expect(journal.filter((e) => e.phase === "commit")).toHaveLength(3);
      for (const e of journal) {
        const executor = e.metadata?.executor as { instance?: string } | undefined;
        if (executor?.instance) hosts.add(executor.instance);
      }
    }
    // The work was shared: replicas of more than one scheduler's executor.
    expect(hosts.size).toBeGreaterThan(1);
    for (const s of schedulers) expect(s.child.exitCode).toBeNull();
  }, 300_000);

  test("kill -9 one of two schedulers mid-run: nothing lost, nothing run twice", async ({ stack, tmpDir }) => {
    const d = demo(tmpDir);
    const a = stack.startScheduler();
    const b = stack.startScheduler();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await stack.create(replayLoop(d))).id);
    await stack.waitUntil(
      async () => (await stack.store.loops.list({ state: ["running", "synced"] })).items.length >= 2,
      30_000,
      "loops to start",
    );
    a.child.kill("SIGKILL");
    for (let i = 0; i < 2; i++) ids.push((await stack.create(replayLoop(d))).id);
    const loops = [];
    for (const id of ids)
      loops.push(await stack.waitFor(id, ["synced", "flatline", "cancelled"], 120_000, () => b.output().slice(-4000)));
    expect(loops.map((l) => l.status.state)).toEqual(Array(6).fill("synced"));
    // Nothing ran twice: one replica attempt of each loop took the lock and did the work, with one
    // commit per story. (A loop claimed by the killed scheduler whose replica never started may
    // legitimately run as attempt 2.)
    for (const l of loops) {
      const journal = await stack.journal(l.id);
      expect(journal.filter((e) => /took the lock/.test(e.message))).toHaveLength(1);
      expect(journal.filter((e) => e.phase === "commit")).toHaveLength(3);
      expect(branchSubjects(d.remoteUrl, `smith/${l.id}`)).toHaveLength(3);
    }
    expect(b.child.exitCode).toBeNull();
  }, 150_000);

  test("the API restarts while a replica works: the replica retries its calls and the loop finishes on attempt 1", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const stack = await Stack.start(etcdEndpoint, prefix, tmpDir, { lockTtlMs: 10_000 });
    try {
      const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
      const go = join(tmpDir, "go");
      const pidFile = join(tmpDir, "agent.pid");
      const bin = writeFakeAgent(tmpDir, "claude", claudeFake(waitsOn("US-001", go, pidFile)));
      stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
      const created = await stack.create({
        spec: { repo: { url: d.remoteUrl }, prd: { kind: "path", path: d.prdPath }, agent: { provider: "claude" } },
      });
      await stack.waitUntil(async () => existsSync(pidFile), 60_000, "the agent to start");
      // The agent finishes while the API is down: the replica's journal, gate and iteration calls
      // meet a dead API and must be retried.
      await stack.restartApi(3_000, () => writeFileSync(go, ""));
      const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 90_000);
      expect(loop.status).toMatchObject({ state: "synced", attempt: 1 });
      expect(branchSubjects(d.remoteUrl, `smith/${loop.id}`)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
      // The agent's events from the outage were buffered and delivered, in order, once.
      const journal = await stack.journal(loop.id);
      expect(journal.map((e) => e.seq)).toEqual(journal.map((_, i) => i + 1));
      expect(journal.filter((e) => e.phase === "commit")).toHaveLength(2);
    } finally {
      await stack.close();
    }
  });
});
