import { etcdTest as test } from "@smith/testing";
import type { Loop } from "@smith/core";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect } from "vitest";
import { claudeFake, FAKE_PRD } from "./fakes.ts";
import { ApiProcess, Stack, writeFakeAgent, type SchedulerProcess } from "./harness.ts";
import { branchSubjects, demo } from "./support.ts";

const LOOPS = 30;
const SCHEDULERS = 3;
/** Replicas killed with SIGKILL after their loop's first story is pushed (and one more after its last). */
const REPLICA_KILLS = 3;
const STORIES = ["feat(US-001): First", "feat(US-002): Second"];
/**
 * The fake PRD with a gate that takes 2 s once US-002's work is there: before that story's commit,
 * and in the final verification, a window after the last push and before the loop is finalized.
 */
const PRD = {
  ...FAKE_PRD,
  qualityGates: [...FAKE_PRD.qualityGates, "if test -e done-US-002.txt; then sleep 2; fi"],
};

/** The commit subjects on a remote branch, none while it does not exist. */
function pushed(remote: string, branch: string): string[] {
  try {
    execFileSync("git", ["--git-dir", remote, "rev-parse", "--verify", "--quiet", `refs/heads/${branch}`]);
  } catch {
    return [];
  }
  return branchSubjects(remote, branch);
}

/**
 * The honest fake, slowed down so that faults land mid-story: half a second on US-001, one and a
 * half on US-002 (with the gate above, a window in which the first story is on the remote and the
 * second is not).
 */
const SLOW_WORK = `await new Promise((r) => setTimeout(r, story === "US-002" ? 1500 : 500));
fs.writeFileSync("done-" + story + ".txt", "done\\n");`;

describe("faults", () => {
  test(`three schedulers (own state dirs), ${LOOPS} two-story loops, while kill -9 of replicas, of a scheduler just after a claim, of the elected scheduler and of the API, and an etcd crash: every loop synced, every story committed once`, async ({
    isolatedEtcd: etcd,
    prefix,
    tmpDir,
  }) => {
    const stack = await Stack.start(etcd.endpoint, prefix, tmpDir, { lockTtlMs: 3_000 });
    let api: ApiProcess | undefined;
    try {
      const d = demo(tmpDir, { prd: PRD, recordings: {} });
      const bin = writeFakeAgent(tmpDir, "claude", claudeFake(SLOW_WORK));
      // The replicas talk to an API process of their own, which the test kills; loops are created
      // through the stack's in-process API (any API replica serves any client).
      api = await ApiProcess.start(stack);
      const stateDirs = Array.from({ length: SCHEDULERS }, (_, i) => join(tmpDir, `machine-${i}`));
      const env = (stateDir: string) => ({
        SMITH_STATE_DIR: stateDir,
        SMITH_API_URL: api?.url ?? "",
        SMITH_CLAUDE_BIN: bin,
        // Long enough for a replica starting on 2 loaded cores to take its lock; a killed replica
        // of another scheduler's executor is judged lost this long after its lock expired.
        SMITH_START_GRACE_MS: "30000",
        SMITH_CONCURRENCY_PER_KEY: "1",
      });
      const schedulers: SchedulerProcess[] = stateDirs.map((dir) => {
        mkdirSync(dir);
        return stack.startScheduler(env(dir));
      });
      const t0 = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < LOOPS; i++) {
        const loop = await stack.create({
          spec: {
            title: `faults ${i}`,
            repo: { url: d.remoteUrl },
            prd: { kind: "path", path: d.prdPath },
            agent: { provider: "claude" },
          },
          concurrencyKey: `k${i % 10}`,
        });
        ids.push(loop.id);
      }
      const faults: string[] = [];
      const note = (what: string) => faults.push(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);

      // 1. kill -9 replicas (their whole process group: wrapper, replica, agent): 3 whose loop has
      // its first story on the remote and not its second, and 1 whose loop has both stories on the
      // remote and is not finalized yet (in the final verification).
      /** Loop id → the attempt whose replica was killed. */
      const killed = new Map<string, number>();
      let killedLast: string | undefined;
      await stack.waitUntil(
        async () => {
          for (const dir of stateDirs) {
            for (const r of await stack.replicas(dir)) {
              if (killed.has(r.loopId) || r.status.phase !== "running") continue;
              const stories = pushed(d.remoteUrl, `smith/${r.loopId}`).length;
              const between = stories === 1 && killed.size - (killedLast ? 1 : 0) < REPLICA_KILLS;
              const last = stories === 2 && !killedLast;
              if (!between && !last) continue;
              const { loop } = await stack.store.loops.getOrThrow(r.loopId);
              if (loop.status.state !== "running" || loop.status.attempt !== r.attempt) continue;
              const { pid } = JSON.parse(readFileSync(join(dir, "replicas", r.handle.id, "record.json"), "utf8")) as {
                pid: number;
              };
              process.kill(-pid, "SIGKILL");
              killed.set(r.loopId, r.attempt);
              if (last) killedLast = r.loopId;
              note(`kill -9 replica ${r.handle.id} ${last ? "after its last push" : "between its stories"}`);
            }
          }
          return killed.size >= REPLICA_KILLS + 1 && killedLast !== undefined;
        },
        120_000,
        `${REPLICA_KILLS} replicas between their two stories and one after its last push`,
      );

      // 2. kill -9 a scheduler the moment the loop watch shows it has claimed a loop whose replica
      // is not recorded yet (often before it started one); it does not come back: its replicas
      // run on with no scheduler that can see them, judged by their locks alone.
      const watch = stack.store.loops.watch();
      let caught: { index: number; loopId: string } | undefined;
      try {
        const timeout = sleep(60_000).then(() => undefined);
        const claims = (async () => {
          for await (const change of watch) {
            if (change.type !== "put") continue;
            const { status } = change.loop;
            if (status.state !== "running" || status.executor || !status.claimedBy) continue;
            const by = status.claimedBy;
            const index = schedulers.findIndex((s) => s.child.exitCode === null && s.output().includes(by));
            if (index < 0) continue;
            schedulers[index]?.child.kill("SIGKILL");
            return { index, loopId: change.loop.id };
          }
          return undefined;
        })();
        caught = await Promise.race([claims, timeout]);
      } finally {
        watch.close();
      }
      if (!caught) throw new Error("no claim seen within 60 s");
      await schedulers[caught.index]?.exited;
      note(`kill -9 scheduler ${caught.index} right after its claim of ${caught.loopId} (not restarted)`);

      // 3. kill -9 the elected reconciler's scheduler (elected anew if it was the one just killed);
      // it comes back on the same state dir (the same executor instance, as a restarted pod on
      // the same node) after its lease expired.
      const alive = () => schedulers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
      await stack.waitUntil(
        async () => alive().some((s) => s.output().includes('"msg":"elected reconciler"')),
        30_000,
        "a live scheduler elected reconciler",
      );
      const victim = schedulers.findIndex(
        (s) => alive().includes(s) && s.output().includes('"msg":"elected reconciler"'),
      );
      schedulers[victim]?.child.kill("SIGKILL");
      note(`kill -9 scheduler ${victim} (the elected reconciler)`);
      await sleep(4_000);
      schedulers[victim] = stack.startScheduler(env(stateDirs[victim] ?? ""));
      note(`scheduler ${victim} restarted`);

      // 4. kill -9 the replicas' API, down 8 s (longer than the lock TTL), back on the same port.
      await sleep(2_000);
      await api.kill();
      note("kill -9 the API");
      await sleep(8_000);
      await api.restart();
      note("API restarted");

      // 5. etcd crashes (SIGKILL), down 8 s (longer than the lock and session TTLs), back on the same
      // data dir and port.
      await sleep(2_000);
      await etcd.kill();
      note("kill -9 etcd");
      await sleep(8_000);
      await etcd.restart();
      note("etcd restarted");

      const loops: Loop[] = [];
      for (const id of ids) loops.push(await stack.waitFor(id, ["synced", "flatline", "cancelled"], 180_000));
      note("every loop finished");
      const notSynced = loops.filter((l) => l.status.state !== "synced");
      const why = await Promise.all(
        notSynced.map(async (l) =>
          [`${l.id} ${l.status.state} (${l.status.reason}): ${l.status.message ?? ""}`]
            .concat((await stack.journal(l.id)).slice(-8).map((e) => `  ${e.phase} ${e.message.slice(0, 300)}`))
            .join("\n"),
        ),
      );
      expect(why.join("\n")).toBe("");
      // No story committed twice: each loop's branch has each story's commit exactly once.
      for (const l of loops) expect([l.id, branchSubjects(d.remoteUrl, `smith/${l.id}`)]).toEqual([l.id, STORIES]);
      // The killed replicas' loops needed another attempt; it resumed from the remote branch.
      for (const [id, attempt] of killed) {
        const loop = loops.find((l) => l.id === id);
        expect(loop?.status.attempt).toBeGreaterThan(attempt);
        const journal = await stack.journal(id);
        expect(journal.some((e) => e.phase === "workspace" && /resumed branch/.test(e.message))).toBe(true);
        // The retry ran the agent only on what was not pushed: nothing at all after the last push.
        const retried = journal.filter(
          (e) => e.phase === "prompt" && Number(/^attempt-(\d+)$/.exec(e.actor.id)?.[1]) > attempt,
        );
        expect(retried.map((e) => e.metadata.storyId)).toEqual(id === killedLast ? [] : ["US-002"]);
      }
      // The other faults cost no attempt: a replica that lived through the scheduler's, the API's
      // and etcd's crashes kept its attempt (an attempt whose claimer died before it started a
      // replica is queued again uncounted, in attemptBase).
      const counted = (l: Loop) => l.status.attempt - l.status.attemptBase;
      expect(loops.filter((l) => counted(l) !== (killed.has(l.id) ? 2 : 1)).map((l) => [l.id, l.status])).toEqual([]);
      const attempts = loops.reduce((n, l) => n + l.status.attempt, 0);
      const unstarted = loops.reduce((n, l) => n + (l.status.unstartedAttempts ?? 0), 0);
      note(`${attempts} attempts for ${LOOPS} loops (${unstarted} never started, not counted)`);
      const claimed = loops.find((l) => l.id === caught?.loopId)?.status;
      note(`the loop claimed by the killed scheduler: attempt ${claimed?.attempt}, base ${claimed?.attemptBase}`);
      process.stderr.write(`faults e2e:\n  ${faults.join("\n  ")}\n`);
    } finally {
      await api?.kill();
      await stack.close();
    }
  }, 300_000);
});
