import { tmpDirTest as test } from "@smith/testing";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect } from "vitest";
import { pidAlive } from "./support.ts";

const SCRIPT = fileURLToPath(new URL("./abandonedStack.ts", import.meta.url));

describe("the e2e harness", () => {
  test("a stack whose teardown never ran leaves no scheduler, replica or agent behind when its process exits", async ({
    tmpDir,
  }) => {
    const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT, tmpDir], { timeout: 90_000 });
    const left = JSON.parse(stdout.trim()) as { agent: number; scheduler: number; replicas: number[] };
    expect(left.replicas).toHaveLength(1);
    const pids = [left.agent, left.scheduler, ...left.replicas];
    // SIGKILL is sent on the way out; give the kernel a moment to reap.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && pids.some(pidAlive)) await new Promise((r) => setTimeout(r, 50));
    expect(pids.filter(pidAlive)).toEqual([]);
  }, 120_000);
});
