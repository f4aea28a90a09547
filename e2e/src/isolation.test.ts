import { ensureAgentUser } from "@smith/executor";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { FAKE_PRD } from "./fakes.ts";
import { stackTest as test } from "./fixtures.ts";
import { branchSubjects, demo } from "./support.ts";

const AGENT_USER = "smith-agent";

/**
 * A scripted agent (the `command` provider: prompt on stdin) that does its story's work and,
 * first, tries everything it can to get at Smith: the environment of every process it can read
 * (the replica token starts with `smr.`), the command lines, the state dir with the run dirs and
 * their token files, the API without a token, a hook in `.git` or a `.git` of its own. It writes what it found to `<probes>/<story>.txt`.
 */
function hostileAgent(probes: string, stateDir: string, apiUrl: string): string {
  return `#!/bin/sh
story=$(sed -n 's/^## Your story: \\([^:]*\\):.*/\\1/p' | head -n 1)
out=${probes}/$story.txt
{
  echo "uid $(id -u)"
  for f in /proc/[0-9]*/environ; do
    if [ -r "$f" ] && tr '\\0' '\\n' < "$f" 2>/dev/null | grep -q '^'; then
      owner=$(stat -c %u "$f")
      echo "environ-readable $owner"
      if tr '\\0' '\\n' < "$f" 2>/dev/null | grep -q 'smr\\.'; then echo "LEAK environ $f"; fi
    fi
  done
  for f in /proc/[0-9]*/cmdline; do
    if tr '\\0' ' ' < "$f" 2>/dev/null | grep -q 'smr\\.'; then echo "LEAK cmdline $f"; fi
  done
  for d in ${stateDir} ${stateDir}/replicas; do
    if ls "$d" >/dev/null 2>&1; then echo "LEAK listed $d"; fi
  done
  for f in ${stateDir}/replicas/*/token ${stateDir}/replicas/*/replica.log; do
    if cat "$f" >/dev/null 2>&1; then echo "LEAK read $f"; fi
  done
  if ls /tmp/smith-askpass-* >/dev/null 2>&1; then echo "LEAK askpass"; fi
  echo "api $(curl -s -o /dev/null -w '%{http_code}' '${apiUrl}/trpc/loops.list?input=%7B%22json%22%3A%7B%7D%7D')"
  echo "home $HOME"
  echo "workspace-writable $(touch probe-write 2>/dev/null && echo yes || echo no)"
  rm -f probe-write
  # The replica's git (root) runs .git's hooks: plant one, or swap .git for a copy of our own.
  if (echo '#!/bin/sh' > .git/hooks/post-commit) 2>/dev/null; then echo "LEAK hook written"; fi
  if mv -- .git .git-away 2>/dev/null; then echo "LEAK .git moved"; mv -- .git-away .git; fi
  if rm -rf -- .git 2>/dev/null && [ ! -e .git ]; then echo "LEAK .git removed"; fi
} > "$out" 2>&1
echo done > "done-$story.txt"
echo "Implemented $story"
`;
}

/**
 * A scripted agent for two loops at once: it notes its workspace in `<probes>/ws-<uid>`, waits
 * (up to 20 s) for a workspace noted by another uid, then tries to list it, read its PRD, write
 * into it and signal the other agent's process (its pid in `<probes>/pid-<uid>`); it writes what
 * worked to `<probes>/peer-<uid>.txt`.
 */
function neighbourAgent(probes: string): string {
  return `#!/bin/sh
me=$(id -u)
echo $$ > ${probes}/pid-$me
pwd > ${probes}/ws-$me
out=${probes}/peer-$me.txt
i=0
while [ $i -lt 200 ]; do
  for f in ${probes}/ws-*; do
    [ "$f" = "${probes}/ws-$me" ] && continue
    [ -e "$f" ] || continue
    other=$(cat "$f")
    uid=\${f##*/ws-}
    {
      echo "peer $uid"
      if ls "$other" >/dev/null 2>&1; then echo "LEAK listed $other"; fi
      if cat "$other/prd.json" >/dev/null 2>&1; then echo "LEAK read $other"; fi
      if touch "$other/planted" 2>/dev/null; then echo "LEAK wrote $other"; fi
      pid=$(cat ${probes}/pid-$uid)
      if kill -0 "$pid" 2>/dev/null; then echo "LEAK signal $pid"; else echo "no signal to $pid"; fi
    } >> "$out" 2>&1
    i=200
  done
  i=$((i + 1))
  [ $i -lt 200 ] && sleep 0.1
done
# Alive a little longer, for the other agent's attempt to signal this one.
sleep 1
echo done > "done-$(date +%s%N).txt"
echo "Implemented"
`;
}

describe("agent isolation (the replica runs as root)", () => {
  test.skipIf(process.getuid?.() !== 0)(
    "an agent run as smith-agent finds nothing usable: no token in any environ or cmdline, no run dir, no askpass, no way into .git, the API refuses it; the loop still syncs",
    async ({ stack, tmpDir }) => {
      expect(ensureAgentUser(AGENT_USER)).toBe(true);
      // Outside the test's 0700 tmpDir, which the agent user could not enter.
      const shared = mkdtempSync(join(tmpdir(), "smith-isolation-"));
      try {
        chmodSync(shared, 0o711);
        const probes = join(shared, "probes");
        const workRoot = join(shared, "work");
        mkdirSync(probes, { mode: 0o777 });
        chmodSync(probes, 0o777);
        const agent = join(shared, "agent.sh");
        const stateDir = join(stack.dir, "state");
        writeFileSync(agent, hostileAgent(probes, stateDir, stack.url), { mode: 0o755 });

        const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
        stack.startScheduler({ SMITH_AGENT_USER: AGENT_USER, SMITH_AGENT_WORK_ROOT: workRoot });
        const created = await stack.create({
          spec: {
            repo: { url: d.remoteUrl },
            prd: { kind: "path", path: d.prdPath },
            agent: { provider: "command", command: agent },
            // Gates are the repository's commands: untrusted too, and run as the agent user.
            qualityGates: [`id -u >> ${join(probes, "gate-uids")}`],
          },
        });
        const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled", "waiting"], 90_000);
        expect(loop.status).toMatchObject({ state: "synced", attempt: 1 });
        expect(branchSubjects(d.remoteUrl, `smith/${loop.id}`)).toEqual([
          "feat(US-001): First",
          "feat(US-002): Second",
        ]);

        const agentUid = Number(execFileSync("id", ["-u", AGENT_USER], { encoding: "utf8" }).trim());
        const gateUids = readFileSync(join(probes, "gate-uids"), "utf8").trim().split("\n");
        expect(gateUids.length).toBeGreaterThanOrEqual(3); // baseline, each story, final verification
        expect(new Set(gateUids)).toEqual(new Set([String(agentUid)]));
        for (const story of ["US-001", "US-002"]) {
          const found = readFileSync(join(probes, `${story}.txt`), "utf8");
          expect(found).toContain(`uid ${agentUid}\n`);
          expect(found).not.toContain("LEAK");
          // The only environments it could read were its own user's.
          const owners = [...found.matchAll(/^environ-readable (\d+)$/gm)].map((m) => Number(m[1]));
          expect(owners.length).toBeGreaterThan(0);
          expect(new Set(owners)).toEqual(new Set([agentUid]));
          expect(found).toMatch(/^api 401$/m);
          expect(found).toContain(`home ${join(workRoot, `${loop.id}-1`)}.home\n`);
          expect(found).toContain("workspace-writable yes\n");
        }
      } finally {
        rmSync(shared, { recursive: true, force: true });
      }
    },
  );

  test.skipIf(process.getuid?.() !== 0)(
    "two loops at once get two agent users of the pool: neither can list, read or write the other's workspace or signal its processes",
    async ({ stack, tmpDir }) => {
      const pool = [AGENT_USER, `${AGENT_USER}-2`];
      for (const user of pool) expect(ensureAgentUser(user)).toBe(true);
      const shared = mkdtempSync(join(tmpdir(), "smith-isolation-"));
      try {
        chmodSync(shared, 0o711);
        const probes = join(shared, "probes");
        mkdirSync(probes, { mode: 0o777 });
        chmodSync(probes, 0o777);
        const agent = join(shared, "agent.sh");
        writeFileSync(agent, neighbourAgent(probes), { mode: 0o755 });
        stack.startScheduler({ SMITH_AGENT_USER: pool.join(","), SMITH_AGENT_WORK_ROOT: join(shared, "work") });
        // Two repositories: two concurrency keys, so both loops run at once.
        const created = await Promise.all(
          [demo(tmpDir, { prd: FAKE_PRD, recordings: {} }), demo(tmpDir, { prd: FAKE_PRD, recordings: {} })].map((d) =>
            stack.create({
              spec: {
                repo: { url: d.remoteUrl },
                prd: { kind: "path", path: d.prdPath },
                agent: { provider: "command", command: agent },
                qualityGates: ["true"],
              },
            }),
          ),
        );
        for (const c of created)
          expect(
            (await stack.waitFor(c.id, ["synced", "flatline", "cancelled", "waiting"], 90_000)).status,
          ).toMatchObject({ state: "synced", attempt: 1 });
        const uids = pool.map((u) => execFileSync("id", ["-u", u], { encoding: "utf8" }).trim());
        for (const uid of uids) {
          const found = readFileSync(join(probes, `peer-${uid}.txt`), "utf8");
          // Each saw the other user's workspace (they ran at once) and could do nothing with it.
          expect(found).toContain(`peer ${uids.find((u) => u !== uid)}\n`);
          expect(found).toMatch(/^no signal to \d+$/m);
          expect(found).not.toContain("LEAK");
        }
      } finally {
        rmSync(shared, { recursive: true, force: true });
      }
    },
  );
});
