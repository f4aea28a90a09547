import { etcdTest as test } from "@smith/testing";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake, FAKE_PRD } from "./fakes.ts";
import { Stack, writeFakeAgent } from "./harness.ts";
import { branchSubjects, demo } from "./support.ts";

/** The API's lock TTL in this test: short, so that an outage of twice it is quick to stage. */
const LOCK_TTL_MS = 3_000;
const OUTAGE_MS = 2 * LOCK_TTL_MS;
const LOOPS = 4;

/**
 * Works like the honest fake, but on US-001 first records its pid in `dir` and waits for the
 * `go` file: the agents are mid-story, their replicas alive and heartbeating, while the test
 * takes the API and then etcd away.
 */
function waitsForGo(dir: string, go: string): string {
  return `if (story === "US-001") {
  fs.writeFileSync(require("node:path").join(${JSON.stringify(dir)}, String(process.pid)), story);
  while (!fs.existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 100));
}
fs.writeFileSync("done-" + story + ".txt", "done\\n");`;
}

describe("outages", () => {
  test(`${LOOPS} running loops survive the API down for 2x the lock TTL, then etcd down as long: all synced on attempt 1`, async ({
    isolatedEtcd: etcd,
    prefix,
    tmpDir,
  }) => {
    const stack = await Stack.start(etcd.endpoint, prefix, tmpDir, { lockTtlMs: LOCK_TTL_MS });
    try {
      const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
      const pids = join(tmpDir, "agents");
      mkdirSync(pids);
      const go = join(tmpDir, "go");
      const bin = writeFakeAgent(tmpDir, "claude", claudeFake(waitsForGo(pids, go)));
      const scheduler = stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
      const ids: string[] = [];
      for (let i = 0; i < LOOPS; i++) {
        const loop = await stack.create({
          spec: {
            title: `outage ${i}`,
            repo: { url: d.remoteUrl },
            prd: { kind: "path", path: d.prdPath },
            agent: { provider: "claude" },
          },
        });
        ids.push(loop.id);
      }
      await stack.waitUntil(async () => readdirSync(pids).length === LOOPS, 90_000, "every agent to start on US-001");

      const locksAlive = async () => {
        try {
          return (await Promise.all(ids.map((id) => stack.store.locks.inspect(id)))).map((l) => l.alive);
        } catch {
          return []; // etcd away
        }
      };
      // The API goes away for twice the lock TTL: every heartbeat fails, every lock expires.
      const apiBack = stack.restartApi(OUTAGE_MS);
      await stack.waitUntil(
        async () => (await locksAlive()).filter((alive) => !alive).length === LOOPS,
        OUTAGE_MS,
        "every lock to expire while the API is down",
      );
      await apiBack;
      // Back: the replicas renew their locks.
      await stack.waitUntil(
        async () => (await locksAlive()).filter(Boolean).length === LOOPS,
        30_000,
        "every lock renewed after the API outage",
      );

      // Then etcd goes away for as long, and comes back on the same data dir.
      await etcd.stop();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await etcd.restart();
      await stack.waitUntil(
        async () => (await locksAlive()).filter(Boolean).length === LOOPS,
        30_000,
        "every lock renewed after the etcd outage",
      );

      writeFileSync(go, "");
      const loops = [];
      for (const id of ids) loops.push(await stack.waitFor(id, ["synced", "flatline", "cancelled"], 120_000));
      expect(loops.map((l) => [l.status.state, l.status.attempt])).toEqual(Array(LOOPS).fill(["synced", 1]));
      for (const l of loops) {
        const journal = await stack.journal(l.id);
        expect(journal.filter((e) => e.phase === "reconcile")).toEqual([]);
        expect(journal.filter((e) => /took the lock/.test(e.message))).toHaveLength(1);
        expect(branchSubjects(d.remoteUrl, `smith/${l.id}`)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
      }
      // Each replica finalized and exited by itself, with 0: none was stopped by the reconciler.
      await stack.waitUntil(
        async () => (await stack.replicas()).every((r) => r.status.phase !== "running"),
        30_000,
        "the replicas to exit",
      );
      expect(
        (await stack.replicas()).map((r) => [r.loopId, r.attempt, r.status.phase, r.status.exitCode]).sort(),
      ).toEqual([...ids].sort().map((id) => [id, 1, "succeeded", 0]));
      expect(scheduler.child.exitCode).toBeNull();
    } finally {
      await stack.close();
    }
  });
});
