// A loop on a private repository: the replica clones and pushes with a token from the
// credentials store through git smart HTTP that checks it, the agent gets its provider key, and
// neither the token nor the key turns up anywhere it should not.
import { GitHubServer } from "@smith/testing";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake, FAKE_PRD } from "./fakes.ts";
import { stackTest as test } from "./fixtures.ts";
import { ADMIN_TOKEN, writeFakeAgent } from "./harness.ts";

/** Every regular file under `dir` (skipping .git object packs only by their binary content, not by name). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && statSync(path).size < 8 * 1024 * 1024) out.push(path);
  }
  return out;
}

/** The agent records what it can see: its environ and cmdline (as /proc shows them), what its own git can do. */
function spyingAgent(evidenceDir: string): string {
  return claudeFake(`
const ev = ${JSON.stringify(evidenceDir)};
fs.mkdirSync(ev, { recursive: true });
fs.writeFileSync(ev + "/environ-" + story, fs.readFileSync("/proc/" + process.pid + "/environ"));
fs.writeFileSync(ev + "/cmdline-" + story, fs.readFileSync("/proc/" + process.pid + "/cmdline"));
const os = require("node:os");
const askpass = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("smith-askpass-"));
const tokens = askpass.filter((d) => fs.existsSync(os.tmpdir() + "/" + d + "/token"));
const { spawnSync } = require("node:child_process");
const lsRemote = spawnSync("git", ["ls-remote", "origin"], { encoding: "utf8", env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } });
fs.writeFileSync(ev + "/seen-" + story + ".json", JSON.stringify({
  anthropic: process.env.ANTHROPIC_API_KEY || null,
  askpassVar: process.env.GIT_ASKPASS || null,
  tokenFilesPresent: tokens.length,
  gitConfig: spawnSync("git", ["config", "--list", "--show-origin"], { encoding: "utf8" }).stdout,
  lsRemoteStatus: lsRemote.status,
}));
fs.writeFileSync("done-" + story + ".txt", "done\\n");`);
}

describe("credentials end to end", () => {
  test("clone and push with a stored token through an auth-checking git server; the agent sees only its provider key; no secret anywhere else", async ({
    stack,
    tmpDir,
  }) => {
    const github = await GitHubServer.start();
    try {
      await github.createRepository("acme", "app", {
        files: { "README.md": "# app\n", ".agents/tasks/prd.json": JSON.stringify(FAKE_PRD, null, 2) },
      });
      const gitToken = github.createToken("smith-bot", { repositories: new Set(["acme/app"]), permission: "WRITE" });
      const providerKey = `sk-ant-e2e-${Date.now().toString(36)}-secretvalue`;
      const admin = stack.admin;
      await admin.credentials.create.mutate({
        name: "acme-bot",
        type: "github-token",
        value: gitToken,
        scope: { host: github.host, owner: "acme" },
      });
      await admin.credentials.create.mutate({ name: "claude", type: "anthropic", value: providerKey });

      // Without a token the server refuses: what the replica does below is the credential's doing.
      // (execFile, not execFileSync: the git server answers from this very process.)
      await expect(
        promisify(execFile)("git", ["ls-remote", github.cloneUrl("acme", "app")], {
          env: { PATH: process.env.PATH ?? "", GIT_TERMINAL_PROMPT: "0" },
        }),
      ).rejects.toThrow();

      const evidence = join(tmpDir, "agent-evidence");
      const gateEnv = join(tmpDir, "gate-env");
      const snapshot = join(tmpDir, "workspace-snapshot");
      const bin = writeFakeAgent(tmpDir, "claude", spyingAgent(evidence));
      stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
      const created = await stack.create({
        spec: {
          repo: { url: github.cloneUrl("acme", "app") },
          prd: { kind: "path", path: ".agents/tasks/prd.json" },
          agent: { provider: "claude" },
          // The gate also snapshots the workspace (with .git): a synced attempt removes its checkout.
          qualityGates: [`env > ${gateEnv} && rm -rf ${snapshot} && cp -a . ${snapshot}`],
        },
      });
      const loop = await stack.waitFor(created.id, ["synced", "flatline", "waiting", "cancelled"], 90_000);
      expect(loop.status, loop.status.message).toMatchObject({ state: "synced" });

      // The work reached the private remote through the token.
      const pushed = execFileSync(
        "git",
        ["--git-dir", github.repoPath("acme", "app"), "log", "--reverse", "--format=%s", `main..smith/${loop.id}`],
        { encoding: "utf8" },
      );
      expect(pushed.split("\n").filter(Boolean)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
      const journal = await stack.journal(loop.id);
      expect(journal.map((e) => e.message)).toContain(
        "git token from credential acme-bot (github-token); agent key from credential claude",
      );

      // The agent: its provider key, no askpass, no token file on disk while it ran, a git that cannot authenticate.
      for (const story of ["US-001", "US-002"]) {
        const seen = JSON.parse(readFileSync(join(evidence, `seen-${story}.json`), "utf8")) as Record<string, unknown>;
        expect(seen).toMatchObject({ anthropic: providerKey, askpassVar: null, tokenFilesPresent: 0 });
        expect(seen.lsRemoteStatus).not.toBe(0);
        // The workspace's own config holds no helper and no token (the host's /etc/gitconfig is not ours).
        const local = String(seen.gitConfig)
          .split("\n")
          .filter((l) => l.startsWith("file:.git/config"));
        expect(local.join("\n")).toContain("remote.origin.url=");
        expect(local.join("\n")).not.toMatch(/credential|askpass|@127/i);
        expect(readFileSync(join(evidence, `environ-${story}`), "latin1")).not.toContain(gitToken);
        expect(readFileSync(join(evidence, `cmdline-${story}`), "latin1")).not.toContain(gitToken);
      }
      // The gates: neither the token nor the provider key.
      const gates = readFileSync(gateEnv, "utf8");
      expect(gates).not.toContain(gitToken);
      expect(gates).not.toContain(providerKey);
      expect(gates).not.toMatch(/GIT_ASKPASS|ANTHROPIC_API_KEY/);

      // Nowhere else: etcd (every key and value), the journal, the audit log, the API's answers,
      // the scheduler's and replica's logs, the replica's run directory and workspace.
      const all = await stack.store.client.getAll().prefix(stack.store.keys.root).exec();
      const etcd = all.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`).join("\n");
      const answers = await Promise.all(
        [
          `/trpc/loops.get?input=${encodeURIComponent(JSON.stringify({ json: { id: loop.id } }))}`,
          `/trpc/journal.list?input=${encodeURIComponent(JSON.stringify({ json: { loopId: loop.id, limit: 500 } }))}`,
          `/trpc/audit.list?input=${encodeURIComponent(JSON.stringify({ json: { limit: 500 } }))}`,
          `/trpc/credentials.list`,
          `/trpc/handoffs.list?input=${encodeURIComponent(JSON.stringify({ json: { loopId: loop.id } }))}`,
          `/metrics`,
        ].map(async (path) => {
          const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
          expect(res.status, path).toBe(200);
          return res.text();
        }),
      );
      const runFiles = filesUnder(join(stack.dir, "state"));
      const workspaceFiles = filesUnder(snapshot);
      expect(runFiles.length).toBeGreaterThan(0);
      expect(workspaceFiles.some((f) => f.endsWith(".git/config"))).toBe(true);
      const files = [...runFiles, ...workspaceFiles].map((f) => readFileSync(f, "latin1"));
      const logs = stack.schedulers.map((s) => s.output()).join("\n");
      const haystacks: [string, string][] = [
        ["etcd", etcd],
        ["journal", JSON.stringify(journal)],
        ["api answers", answers.join("\n")],
        ["logs", logs],
        ["run dirs and workspace", files.join("\n")],
      ];
      for (const [where, text] of haystacks) {
        expect(text.includes(gitToken), `the git token in ${where}`).toBe(false);
        expect(text.includes(providerKey), `the provider key in ${where}`).toBe(false);
      }
      expect(etcd).toContain("/credentials/acme-bot=");
    } finally {
      await github.close();
    }
  });
});
