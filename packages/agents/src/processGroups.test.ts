import { tmpDirTest as test } from "@smith/testing";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, onTestFinished } from "vitest";
import { endRecordedGroups, ProcessGroupRecords } from "./processGroups.ts";
import { waitGone } from "./testSupport.ts";

/** A process started the way runProcess starts one: `detached`, the leader of a session of its own. */
function sessionLeader(script: string, detached = true): ChildProcess & { pid: number } {
  const child = spawn("/bin/sh", ["-c", script], { detached, stdio: "ignore" });
  if (child.pid === undefined) throw new Error("not started");
  const pid = child.pid;
  // Whatever a failed test leaves running ends with it.
  onTestFinished(() => {
    try {
      process.kill(detached ? -pid : pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  });
  return child as ChildProcess & { pid: number };
}

async function waitFor(file: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    if (existsSync(file) && readFileSync(file, "utf8").trim()) return readFileSync(file, "utf8").trim();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no ${file}`);
}

describe("ProcessGroupRecords and endRecordedGroups", () => {
  test("a recorded group is killed whole (the leader and what it started), its record and the directory removed", async ({
    tmpDir,
  }) => {
    const dir = join(tmpDir, "children");
    const records = new ProcessGroupRecords(dir);
    const member = join(tmpDir, "member.pid");
    const leader = sessionLeader(`sleep 1000 & echo $! > ${member}; wait`);
    records.started(leader.pid);
    expect(readdirSync(dir)).toEqual([String(leader.pid)]);
    const memberPid = Number(await waitFor(member));

    expect(endRecordedGroups(dir)).toEqual([leader.pid]);
    expect(await waitGone(leader.pid)).toBe(true);
    expect(await waitGone(memberPid)).toBe(true);
    expect(existsSync(dir)).toBe(false);
    // Idempotent, and cheap without a directory.
    expect(endRecordedGroups(dir)).toEqual([]);
  });

  test("a group that ended is forgotten: ended() removes its record", async ({ tmpDir }) => {
    const dir = join(tmpDir, "children");
    const records = new ProcessGroupRecords(dir);
    const leader = sessionLeader("exit 0");
    records.started(leader.pid);
    records.ended(leader.pid);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a recorded pid now used by an unrelated process, or by one that leads no group, is never signalled", async ({
    tmpDir,
  }) => {
    const dir = join(tmpDir, "children");
    new ProcessGroupRecords(dir);
    // A group leader whose start time is not the recorded one: the recorded process is gone and
    // its pid was handed out again.
    const reused = sessionLeader("exec sleep 1000");
    writeFileSync(join(dir, String(reused.pid)), "1");
    // The right start time, but not a group leader (it is in this test's own group).
    const member = sessionLeader("exec sleep 1000", false);
    await new Promise((r) => setTimeout(r, 100));
    const stat = readFileSync(`/proc/${member.pid}/stat`, "utf8");
    writeFileSync(join(dir, String(member.pid)), stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "");
    // Garbage: a record of pid 1 is dropped unheeded; a file that is no record is left alone.
    writeFileSync(join(dir, "1"), "1");
    writeFileSync(join(dir, "not-a-pid"), "1");

    expect(endRecordedGroups(dir)).toEqual([]);
    expect(await waitGone(reused.pid, 300)).toBe(false);
    expect(await waitGone(member.pid, 300)).toBe(false);
    expect(readdirSync(dir)).toEqual(["not-a-pid"]);
  });
});
