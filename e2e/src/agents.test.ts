import { stackTest as test } from "./fixtures.ts";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake, CLAIMS_ONLY, FAKE_PRD, hangs, WORKS } from "./fakes.ts";
import { writeFakeAgent } from "./harness.ts";
import { branchSubjects, demo, pidAlive } from "./support.ts";

function claudeLoop(remote: string, prdPath: string, limits: Record<string, number> = {}, gates: string[] = []) {
  return {
    spec: {
      repo: { url: remote },
      prd: { kind: "path" as const, path: prdPath },
      agent: { provider: "claude" as const },
      qualityGates: gates,
      limits,
    },
  };
}

describe("end to end with scripted Claude Code fakes", () => {
  test("claims success but the gates fail: the story stays open and the loop waits for a person (needs-human) after N", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(CLAIMS_ONLY));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create(claudeLoop(d.remoteUrl, d.prdPath, { maxConsecutiveFailures: 2 }));
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 60_000);
    expect(loop.status).toMatchObject({
      state: "waiting",
      reason: "needs-human",
      iteration: 2,
      progress: { done: 0, total: 2 },
    });
    expect(loop.status.message).toMatch(/US-001 failed 2 iterations/);
    const journal = await stack.journal(loop.id);
    expect(journal.filter((e) => e.phase === "gate" && e.level === "warn")).toHaveLength(2);
    expect(journal.some((e) => e.phase === "agent" && e.message.includes("Working on US-001"))).toBe(true);
    expect(journal.filter((e) => e.phase === "commit")).toHaveLength(0);
    expect(branchSubjects(d.remoteUrl, "main", "main")).toEqual([]);
    const [handoff] = await stack.store.handoffs.list(loop.id);
    expect(handoff).toMatchObject({ validation: { state: "failed" }, done: [] });
    expect(handoff?.remaining).toHaveLength(2);
  });

  test("an agent that hangs is killed at its timeout, with everything it started", async ({ stack, tmpDir }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const pidFile = join(tmpDir, "agent.pids");
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(hangs(pidFile)));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create(
      claudeLoop(d.remoteUrl, d.prdPath, { agentTimeoutMs: 2000, maxConsecutiveFailures: 1 }),
    );
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 60_000);
    expect(loop.status).toMatchObject({ state: "waiting", reason: "needs-human" });
    const journal = await stack.journal(loop.id);
    expect(journal.some((e) => e.phase === "agent" && /timed out/.test(e.message))).toBe(true);
    const pids = readFileSync(pidFile, "utf8").split(" ").map(Number);
    await stack.waitUntil(async () => pids.every((p) => !pidAlive(p)), 10_000, "the agent and its child to be gone");
  });

  test("usage reported by the agent adds up to the loop's cost", async ({ stack, tmpDir }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const bin = writeFakeAgent(
      tmpDir,
      "claude",
      claudeFake(WORKS, { usd: 0.0125, inputTokens: 1000, outputTokens: 250 }),
    );
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create(claudeLoop(d.remoteUrl, d.prdPath));
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 60_000);
    expect(loop.status).toMatchObject({ state: "synced", iteration: 2 });
    expect(loop.cost).toEqual({ inputTokens: 2000, outputTokens: 500, usd: 0.025 });
    expect(branchSubjects(d.remoteUrl, `smith/${loop.id}`)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
  });

  test("the agent and the gates get a sanitized environment: never the replica token, not even in /proc or the run dir", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const envFile = join(tmpDir, "agent-env.json");
    const probeFile = join(tmpDir, "agent-probe.json");
    const gateEnv = join(tmpDir, "gate-env.txt");
    // The agent looks where a token could be: the initial environment and command line of every
    // process of its replica's run (the wrapper shell, the replica, itself), and the run dir (the
    // workspace's parent) where the executor wrote the token file.
    const probe = `const runDir = require("node:path").resolve(process.cwd(), "..");
const seen = [];
const leaks = [];
for (const pid of fs.readdirSync("/proc").filter((n) => /^\\d+$/.test(n))) {
  let environ;
  try { environ = fs.readFileSync("/proc/" + pid + "/environ", "latin1"); } catch { continue; }
  if (!environ.includes("SMITH_RUN_DIR=" + runDir)) continue;
  seen.push(pid);
  let cmdline = "";
  try { cmdline = fs.readFileSync("/proc/" + pid + "/cmdline", "latin1"); } catch {}
  if ((environ + cmdline).includes("smr.")) leaks.push(pid);
}
fs.writeFileSync(${JSON.stringify(probeFile)}, JSON.stringify({ runDir, seen, leaks, files: fs.readdirSync(runDir) }));`;
    const bin = writeFakeAgent(
      tmpDir,
      "claude",
      claudeFake(`fs.writeFileSync(${JSON.stringify(envFile)}, JSON.stringify(process.env));\n${probe}\n${WORKS}`),
    );
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create(claudeLoop(d.remoteUrl, d.prdPath, {}, [`env > ${gateEnv}`]));
    await stack.waitFor(created.id, ["synced"], 60_000);
    const agentEnv = JSON.parse(readFileSync(envFile, "utf8")) as Record<string, string>;
    expect(Object.keys(agentEnv).filter((k) => k.startsWith("SMITH_"))).toEqual([]);
    expect(JSON.stringify(agentEnv)).not.toMatch(/smr\./);
    expect(agentEnv.PATH).toBeTruthy();
    expect(readFileSync(gateEnv, "utf8")).not.toMatch(/SMITH_TOKEN|smr\./);
    const found = JSON.parse(readFileSync(probeFile, "utf8")) as {
      runDir: string;
      seen: string[];
      leaks: string[];
      files: string[];
    };
    // The wrapper shell and the replica were seen (the probe works), and neither holds the token.
    expect(found.seen.length).toBeGreaterThanOrEqual(2);
    expect(found.leaks).toEqual([]);
    // The replica removed the token file before the agent started.
    expect(found.files).toContain("workspace");
    expect(found.files).not.toContain("token");
  });

  test("cancel mid-iteration: the agent is killed, the loop is cancelled and its slot released", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const pidFile = join(tmpDir, "agent.pids");
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(hangs(pidFile)));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create(claudeLoop(d.remoteUrl, d.prdPath));
    await stack.waitUntil(
      async () => existsSync(pidFile) && readFileSync(pidFile, "utf8").includes(" "),
      30_000,
      "the agent to start",
    );
    await stack.admin.loops.cancel.mutate({ id: created.id, reason: "operator changed their mind" });
    const pids = readFileSync(pidFile, "utf8").split(" ").map(Number);
    await stack.waitUntil(async () => pids.every((p) => !pidAlive(p)), 15_000, "the agent to be killed");
    const loop = (await stack.store.loops.getOrThrow(created.id)).loop;
    expect(loop.status).toMatchObject({ state: "cancelled", reason: "operator-cancelled" });
    expect(await stack.store.client.getAll().prefix(stack.store.keys.slotsPrefix()).count()).toBe(0);
    // The replica noticed (heartbeat says stop), killed its agent and exited.
    await stack.waitUntil(
      async () => (await stack.replicas()).every((r) => r.status.phase !== "running"),
      15_000,
      "the replica to exit",
    );
    expect((await stack.journal(created.id)).some((e) => /cancelled by/.test(e.message))).toBe(true);
  });
});
