// Who runs the agents under `smith up`: the choice made at start, with the real user database.
import { SmithError } from "@smith/core";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { chooseAgentUser } from "./up.ts";

function choose(agentUser: string | false | undefined, uid: number, path = process.env.PATH ?? "", binDir?: string) {
  const lines: string[] = [];
  const chosen = chooseAgentUser(
    { ...(agentUser !== undefined ? { agentUser } : {}), env: { PATH: path }, out: (l) => lines.push(l) },
    uid,
    binDir,
  );
  return { chosen, lines };
}

describe("smith up's agent user", () => {
  test("not root: no agent user and one warning line naming the alternatives", () => {
    const { chosen, lines } = choose(undefined, 1000);
    expect(chosen).toBeUndefined();
    expect(lines).toEqual([
      "warning     not root: agents run as this user and can read the state dir and its secrets; isolate them by running smith up as root (agents then run as smith-agent), in a container or VM of their own, or on Kubernetes (docs/security.md)",
    ]);
  });

  test("not root with --agent-user: a typed error naming the flag, nothing created", () => {
    let err: unknown;
    try {
      choose("smith-nobody-here", 1000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SmithError);
    expect(err).toMatchObject({ code: "invalid_argument", details: { field: "agent-user" } });
    expect(() => execFileSync("id", ["-u", "smith-nobody-here"], { stdio: "ignore" })).toThrow();
  });

  test("--agent-pool out of range: a typed error naming the flag and the limit", () => {
    for (const agentPool of [0, 65, 1.5]) {
      let err: unknown;
      try {
        chooseAgentUser({ agentPool, env: {}, out: () => undefined }, 0);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: "invalid_argument", details: { field: "agent-pool" } });
      expect((err as Error).message).toContain("from 1 to 64");
    }
  });

  test("--no-agent-user as root: agents stay root, with a warning", () => {
    const { chosen, lines } = choose(false, 0);
    expect(chosen).toBeUndefined();
    expect(lines).toEqual([expect.stringMatching(/^warning {5}--no-agent-user as root: agents run as root/)]);
  });

  test.skipIf(process.getuid?.() !== 0)(
    "root: smith-agent by default, created if missing; a node it cannot reach on PATH is copied where it can",
    () => {
      const { chosen, lines } = choose(undefined, 0, "/usr/local/bin:/usr/bin:/bin");
      const uid = execFileSync("id", ["-u", "smith-agent"], { encoding: "utf8" }).trim();
      expect(Number(uid)).toBeGreaterThan(0);
      expect(lines[0]).toBe(
        `agents      run as smith-agent (uid ${uid}): they cannot read the state dir, the secrets or the replica token`,
      );
      expect(chosen?.name).toBe("smith-agent");
      // One user per running loop: smith-agent and smith-agent-2..4, each created, each its own uid.
      expect(chosen?.pool).toEqual(["smith-agent", "smith-agent-2", "smith-agent-3", "smith-agent-4"]);
      const uids = (chosen?.pool ?? []).map((u) => execFileSync("id", ["-u", u], { encoding: "utf8" }).trim());
      expect(new Set(uids).size).toBe(4);
      expect(lines).toContain(
        "agents      one user per running loop: smith-agent, smith-agent-2, smith-agent-3, smith-agent-4 (shared beyond 4 loops at once)",
      );

      // A PATH with no node the agent user can reach (like the one scripts/run.sh provisions
      // under /root): a copy of this node in a directory it can enter, appended to its PATH.
      const bin = mkdtempSync(join(tmpdir(), "smith-agent-bin-"));
      try {
        chmodSync(bin, 0o755);
        const copied = choose(undefined, 0, "/root/.no-such-node-dir", join(bin, "bin"));
        expect(copied.chosen).toMatchObject({
          name: "smith-agent",
          path: `/root/.no-such-node-dir:${join(bin, "bin")}`,
        });
        expect(copied.lines[1]).toBe(
          `agents      node for smith-agent: ${join(bin, "bin", "node")} (a copy of ${process.execPath}, which it cannot reach)`,
        );
        const version = execFileSync("/bin/sh", ["-c", "node --version"], {
          uid: Number(uid),
          env: { PATH: copied.chosen?.path ?? "" },
          encoding: "utf8",
        }).trim();
        expect(version).toBe(process.version);
        // Made once: a second start keeps the same file.
        const before = statSync(join(bin, "bin", "node")).ino;
        choose(undefined, 0, "/root/.no-such-node-dir", join(bin, "bin"));
        expect(statSync(join(bin, "bin", "node")).ino).toBe(before);
      } finally {
        rmSync(bin, { recursive: true, force: true });
      }
    },
  );
});
