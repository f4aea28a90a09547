import { Loop, SCHEMA_VERSION, newId } from "@smith/core";
import { tmpDirTest as test } from "@smith/testing";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, onTestFinished } from "vitest";
import { ensureAgentUser } from "./agentUser.ts";
import { LocalProcessExecutor } from "./local.ts";

function loop(): Loop {
  const at = new Date().toISOString();
  return Loop.parse({
    schemaVersion: SCHEMA_VERSION,
    id: newId(),
    source: { type: "direct" },
    spec: { repo: { url: "x" }, prd: { kind: "path" }, agent: { provider: "replay" } },
    priority: 100,
    concurrencyKey: "k",
    status: {
      state: "running",
      attempt: 1,
      iteration: 0,
      progress: { done: 0, total: 0 },
      createdAt: at,
      updatedAt: at,
    },
    cost: { inputTokens: 0, outputTokens: 0, usd: 0 },
  });
}

/** @smith/agents' entry point, for a replica-like script outside the repository (Node strips its types). */
const AGENTS_PACKAGE = fileURLToPath(new URL("../../agents/src/index.ts", import.meta.url));

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function until(fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("timed out");
}

describe("LocalProcessExecutor", () => {
  test("an exit record being written (empty) is no exit code: the replica still runs until the record says how it ended", async ({
    tmpDir,
  }) => {
    const go = join(tmpDir, "go");
    const ex = new LocalProcessExecutor({
      stateDir: tmpDir,
      command: ["/bin/sh", "-c", `while [ ! -e ${go} ]; do sleep 0.05; done`],
      env: {},
    });
    const l = loop();
    const handle = await ex.start({ loop: l, attempt: 1, token: "tok" });
    // The wrapper's `echo $? > exit-code` opens (empties) the file before it writes the code.
    writeFileSync(join(tmpDir, "replicas", handle.id, "exit-code"), "");
    expect(await ex.status(handle)).toEqual({ phase: "running" });
    writeFileSync(go, "");
    await until(async () => (await ex.status(handle)).phase !== "running");
    expect(await ex.status(handle)).toEqual({ phase: "succeeded", exitCode: 0 });
  });

  test("runs a detached replica with its env, records its exit code and log", async ({ tmpDir }) => {
    const script = join(tmpDir, "replica.sh");
    writeFileSync(
      script,
      'echo "loop=$SMITH_LOOP_ID attempt=$SMITH_ATTEMPT token=$(cat "$SMITH_TOKEN_FILE") api=$SMITH_API_URL"; exit 3\n',
    );
    const ex = new LocalProcessExecutor({
      stateDir: tmpDir,
      command: ["/bin/sh", script],
      env: { SMITH_API_URL: "http://api" },
    });
    const l = loop();
    const handle = await ex.start({ loop: l, attempt: 2, token: "tok" });
    expect(handle).toEqual({ kind: "local", id: `${l.id}-2`, instance: ex.instance });
    await until(async () => (await ex.status(handle)).phase !== "running");
    expect(await ex.status(handle)).toEqual({ phase: "failed", exitCode: 3 });
    expect(readFileSync(ex.logPath(handle), "utf8")).toBe(`loop=${l.id} attempt=2 token=tok api=http://api\n`);
    expect((await ex.list()).map((r) => [r.loopId, r.attempt, r.status.phase])).toEqual([[l.id, 2, "failed"]]);
  });

  test("the token reaches the replica in a 0600 file of its 0700 run dir, never in its environment", async ({
    tmpDir,
  }) => {
    const script = join(tmpDir, "replica.sh");
    const seen = join(tmpDir, "seen");
    // What the replica's shell and its process can see: its own environ, as /proc shows it to others.
    writeFileSync(script, `tr '\\0' '\\n' < /proc/$$/environ > ${seen}; stat -c %a "$SMITH_TOKEN_FILE" >> ${seen}\n`);
    const ex = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/sh", script], env: {} });
    const l = loop();
    const handle = await ex.start({ loop: l, attempt: 1, token: "smr.secret-token" });
    await until(async () => (await ex.status(handle)).phase !== "running");
    const environ = readFileSync(seen, "utf8");
    expect(environ).not.toContain("smr.secret-token");
    expect(environ).not.toMatch(/^SMITH_TOKEN=/m);
    const runDir = join(tmpDir, "replicas", `${l.id}-1`);
    expect(environ).toContain(`SMITH_TOKEN_FILE=${join(runDir, "token")}\n`);
    expect(environ.trimEnd().split("\n").at(-1)).toBe("600");
    expect(readFileSync(join(runDir, "token"), "utf8")).toBe("smr.secret-token");
    expect(statSync(runDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(tmpDir, "replicas")).mode & 0o777).toBe(0o700);
  });

  test.skipIf(process.getuid?.() !== 0)(
    "agent users: concurrent replicas get different users, a freed user is rid of what it left running, a full pool is shared",
    async ({ tmpDir }) => {
      const pool = ["smith-agent-t1", "smith-agent-t2"];
      for (const user of pool) expect(ensureAgentUser(user)).toBe(true);
      const uidOf = (user: string) => Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
      const script = join(tmpDir, "replica.sh");
      const release = join(tmpDir, "release");
      // Each replica says which user it was given, then runs until its own release file appears.
      writeFileSync(
        script,
        `echo "$SMITH_AGENT_USER" > user; while [ ! -e ${release}-$SMITH_LOOP_ID ]; do sleep 0.05; done\n`,
      );
      const ex = new LocalProcessExecutor({
        stateDir: tmpDir,
        command: ["/bin/sh", script],
        env: {},
        agentUsers: pool,
      });
      const userOf = async (l: Loop, attempt = 1) => {
        const file = join(tmpDir, "replicas", `${l.id}-${attempt}`, "user");
        await until(async () => existsSync(file) && readFileSync(file, "utf8").trim() !== "");
        return readFileSync(file, "utf8").trim();
      };
      const [a, b, c, d] = [loop(), loop(), loop(), loop()];
      if (!a || !b || !c || !d) throw new Error("no loops");
      const ha = await ex.start({ loop: a, attempt: 1, token: "t" });
      await ex.start({ loop: b, attempt: 1, token: "t" });
      expect([await userOf(a), await userOf(b)]).toEqual(pool);

      // What a's agent left behind: a process of its user outside the replica's group.
      const leftover = spawn("sleep", ["300"], { uid: uidOf("smith-agent-t1"), detached: true, stdio: "ignore" });
      leftover.unref();
      const leftoverPid = leftover.pid ?? 0;
      expect(running(leftoverPid)).toBe(true);
      writeFileSync(`${release}-${a.id}`, "");
      await until(async () => (await ex.status(ha)).phase !== "running");

      // t1 is free again: c gets it, and t1's leftover is gone; t2's replica (b) was left alone.
      await ex.start({ loop: c, attempt: 1, token: "t" });
      expect(await userOf(c)).toBe("smith-agent-t1");
      await until(async () => !running(leftoverPid));
      // Both busy now (b and c): d shares the first of the least busy, and nothing is killed.
      await ex.start({ loop: d, attempt: 1, token: "t" });
      expect(await userOf(d)).toBe("smith-agent-t1");
      expect(
        (await ex.list())
          .filter((r) => r.status.phase === "running")
          .map((r) => r.loopId)
          .sort(),
      ).toEqual([b.id, c.id, d.id].sort());
      for (const l of [b, c, d]) writeFileSync(`${release}-${l.id}`, "");
      await until(async () => (await ex.list()).every((r) => r.status.phase !== "running"));
    },
  );

  test("stop kills the whole process group; a SIGKILLed replica still leaves an exit record", async ({ tmpDir }) => {
    const script = join(tmpDir, "replica.sh");
    writeFileSync(script, `sleep 1000 & echo $! > ${join(tmpDir, "child.pid")}; wait\n`);
    const ex = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/sh", script], env: {}, stopGraceMs: 1000 });
    const handle = await ex.start({ loop: loop(), attempt: 1, token: "t" });
    await until(async () => {
      try {
        return readFileSync(join(tmpDir, "child.pid"), "utf8").trim().length > 0;
      } catch {
        return false;
      }
    });
    expect((await ex.status(handle)).phase).toBe("running");
    const grandchild = Number(readFileSync(join(tmpDir, "child.pid"), "utf8"));
    await ex.stop(handle);
    await until(async () => (await ex.status(handle)).phase !== "running");
    // Gone, or a zombie waiting for a reaper (PID 1 in a container may never reap it).
    await until(async () => !running(grandchild));

    // kill -9 of the replica process alone: the wrapper records 137.
    writeFileSync(script, `echo $$ > ${join(tmpDir, "self.pid")}; exec sleep 1000\n`);
    const h2 = await ex.start({ loop: loop(), attempt: 1, token: "t" });
    await until(async () => {
      try {
        return readFileSync(join(tmpDir, "self.pid"), "utf8").trim().length > 0;
      } catch {
        return false;
      }
    });
    process.kill(Number(readFileSync(join(tmpDir, "self.pid"), "utf8")), "SIGKILL");
    await until(async () => (await ex.status(h2)).phase !== "running");
    expect(await ex.status(h2)).toEqual({ phase: "failed", exitCode: 137 });
  });

  test("signalAll kills every live replica group at once, without waiting (a forced exit)", async ({ tmpDir }) => {
    const script = join(tmpDir, "replica.sh");
    writeFileSync(script, `sleep 1000 & echo $! >> ${join(tmpDir, "children.pid")}; wait\n`);
    const ex = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/sh", script], env: {} });
    const handles = [
      await ex.start({ loop: loop(), attempt: 1, token: "t" }),
      await ex.start({ loop: loop(), attempt: 1, token: "t" }),
    ];
    const children = () => {
      try {
        return readFileSync(join(tmpDir, "children.pid"), "utf8").trim().split("\n").filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    await until(async () => children().length === 2);
    for (const h of handles) expect((await ex.status(h)).phase).toBe("running");
    ex.signalAll("SIGKILL");
    for (const h of handles) await until(async () => (await ex.status(h)).phase !== "running");
    for (const pid of children()) await until(async () => !running(pid));
  });

  test("the agents of a replica killed with SIGKILL are ended by status(), stop() and signalAll(), never a reused pid", async ({
    tmpDir,
  }) => {
    // A replica as apps/replica runs its agent: runProcess (a session of its own) with the records.
    const agents = join(tmpDir, "agents");
    const replica = join(tmpDir, "replica.mjs");
    writeFileSync(
      replica,
      `import { runProcess, ProcessGroupRecords } from ${JSON.stringify(AGENTS_PACKAGE)};
const groups = new ProcessGroupRecords(process.env.SMITH_PROCESS_GROUPS_DIR);
await runProcess({
  command: "/bin/sh",
  args: ["-c", "echo $$ >> ${agents}; exec sleep 1000"],
  cwd: process.cwd(),
  env: { PATH: "/usr/bin:/bin" },
  timeoutMs: 600_000,
  processGroups: groups,
});`,
    );
    const ex = new LocalProcessExecutor({
      stateDir: tmpDir,
      command: [process.execPath, replica],
      env: {},
      stopGraceMs: 1000,
    });
    const agentPids = () => {
      try {
        return readFileSync(agents, "utf8").trim().split("\n").filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    onTestFinished(() => {
      for (const pid of agentPids()) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // Ended, as it should be.
        }
      }
    });
    const [h1, h2, h3] = [
      await ex.start({ loop: loop(), attempt: 1, token: "t" }),
      await ex.start({ loop: loop(), attempt: 1, token: "t" }),
      await ex.start({ loop: loop(), attempt: 1, token: "t" }),
    ];
    const recorded = (h: { id: string }) =>
      agentPids().find((p) => existsSync(join(tmpDir, "replicas", h.id, "children", String(p))));
    // The agent writes its pid as it starts; its replica records the group a moment later (on a
    // busy machine, after the agent's first line).
    await until(async () => agentPids().length === 3 && [h1, h2, h3].every((h) => recorded(h) !== undefined), 30_000);
    const agentOf = (h: { id: string }) => {
      const pid = recorded(h);
      if (pid === undefined) throw new Error(`no agent recorded for ${h.id}`);
      return pid;
    };
    const [a1, a2, a3] = [agentOf(h1), agentOf(h2), agentOf(h3)];

    // kill -9 of the first replica's group: its agent, in a session of its own, lives on...
    const record = JSON.parse(readFileSync(join(tmpDir, "replicas", h1.id, "record.json"), "utf8")) as { pid: number };
    process.kill(-record.pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    expect(running(a1)).toBe(true);
    // ... until status() finds the replica gone: here through list() (what the reconciler calls on
    // every pass) of an executor made anew on the state dir, as a restarted scheduler's is. A
    // recorded pid that another process took meanwhile (its start time differs) is left alone.
    const unrelated = spawn("sleep", ["1000"], { detached: true, stdio: "ignore" });
    const unrelatedPid = unrelated.pid ?? 0;
    onTestFinished(() => void unrelated.kill("SIGKILL"));
    writeFileSync(join(tmpDir, "replicas", h1.id, "children", String(unrelatedPid)), "1");
    const restarted = new LocalProcessExecutor({ stateDir: tmpDir, command: ["true"], env: {} });
    await until(async () => (await restarted.list()).find((r) => r.handle.id === h1.id)?.status.phase === "failed");
    await until(async () => !running(a1));
    expect(existsSync(join(tmpDir, "replicas", h1.id, "children"))).toBe(false);
    expect(running(unrelatedPid)).toBe(true);

    // stop(): SIGTERM reaches the replica's group only; the agent is ended after it.
    expect((await ex.status(h2)).phase).toBe("running");
    await ex.stop(h2);
    await until(async () => !running(a2));

    // signalAll("SIGKILL"), a forced exit: the agents too, at once.
    ex.signalAll("SIGKILL");
    await until(async () => !running(a3));
    expect((await ex.status(h3)).phase).toBe("failed");
  });

  test("rejects handles that are not its own", async ({ tmpDir }) => {
    const ex = new LocalProcessExecutor({ stateDir: tmpDir, command: ["true"], env: {} });
    expect(await ex.status({ kind: "kubernetes", id: "x" })).toMatchObject({ phase: "unknown" });
    // Another state dir's replica: this executor cannot see it, so it says nothing about it.
    expect(await ex.status({ kind: "local", id: `${"0".repeat(26)}-1`, instance: "elsewhere/1" })).toMatchObject({
      phase: "unknown",
    });
    await expect(ex.status({ kind: "local", id: "../../etc" })).rejects.toMatchObject({ code: "invalid_argument" });
  });

  test("a state dir is one instance: a restarted executor keeps its name, another state dir has its own", async ({
    tmpDir,
  }) => {
    const a = new LocalProcessExecutor({ stateDir: join(tmpDir, "a"), command: ["true"], env: {} });
    const again = new LocalProcessExecutor({ stateDir: join(tmpDir, "a"), command: ["true"], env: {} });
    const b = new LocalProcessExecutor({ stateDir: join(tmpDir, "b"), command: ["true"], env: {} });
    expect(again.instance).toBe(a.instance);
    expect(b.instance).not.toBe(a.instance);
    expect(await a.list()).toEqual([]);
  });
});
