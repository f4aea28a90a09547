import { etcdTest as test } from "@smith/testing";
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { loopInput, startTestApi } from "@smith/api/testSupport";
import { shortId } from "./format.ts";

// The real binary in a real pseudo-terminal: tmux runs `node cli.ts` in a 160x45 pane, keys go
// in with send-keys and the screen comes back with capture-pane, against an API in this process.

const HAS_TMUX = spawnSync("tmux", ["-V"], { stdio: "ignore" }).status === 0;
const CLI = fileURLToPath(new URL("./cli.ts", import.meta.url));

/** A tmux server of this test's own (its own socket, no user config), killed at the end. */
function tmuxServer() {
  const socket = `smith-tui-test-${process.pid}-${Date.now()}`;
  const tmux = (...args: string[]) =>
    execFileSync("tmux", ["-L", socket, "-f", "/dev/null", ...args], { encoding: "utf8" });
  const screen = () => tmux("capture-pane", "-p", "-t", "tui");
  return {
    start: (command: string) => tmux("new-session", "-d", "-s", "tui", "-x", "160", "-y", "45", command),
    keys: (...keys: string[]) => tmux("send-keys", "-t", "tui", ...keys),
    screen,
    waitFor: async (check: (screen: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = screen();
        if (check(s)) return s;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the pane shows:\n${s}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    kill: () => spawnSync("tmux", ["-L", socket, "kill-server"], { stdio: "ignore" }),
  };
}

const rowOf = (screen: string, id: string) => screen.split("\n").find((l) => l.includes(shortId(id))) ?? "";

describe.skipIf(!HAS_TMUX)(
  `the smith tui binary in a terminal${HAS_TMUX ? "" : " (skipped: tmux is not on PATH)"}`,
  () => {
    test("loops table, j, enter to a live journal, esc, / filter, q — on a real pseudo-terminal", async ({
      etcdEndpoint,
      prefix,
      tmpDir,
    }) => {
      const api = await startTestApi(etcdEndpoint, prefix);
      const tmux = tmuxServer();
      try {
        const op = api.client(api.tokens.operator);
        const alpha = (await op.loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "alpha task" } })))
          .loop.id;
        const beta = (await op.loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "beta task" } })))
          .loop.id;
        const actor = { type: "agent", id: "replay" } as const;
        await api.store.journal.append(alpha, [{ phase: "agent", actor, message: "hello from the journal" }]);
        const tokenFile = join(tmpDir, "token");
        writeFileSync(tokenFile, api.tokens.operator + "\n", { mode: 0o600 });
        const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
        tmux.start(
          `${quote(process.execPath)} ${quote(CLI)} --server ${quote(api.url)} --token-file ${quote(tokenFile)} --context pty; echo "tui exited with $?"; sleep 60`,
        );

        let screen = await tmux.waitFor(
          (s) => s.includes("alpha task") && s.includes("beta task") && s.includes("● connected"),
          "the loops table",
        );
        expect(screen).toMatch(/smith +context pty +api http:\/\/127\.0\.0\.1:\d+/);
        expect(screen).toMatch(/2 loops +unresolved 2/);
        expect(rowOf(screen, beta)).toMatch(/^▶ .*beta task +example\.com\/acme\/app +unresolved +░+ 0\/2/);

        tmux.keys("j");
        await tmux.waitFor((s) => rowOf(s, alpha).startsWith("▶ "), "the selection on alpha");

        tmux.keys("Enter");
        screen = await tmux.waitFor(
          (s) => s.includes(`Loops ▸ ${shortId(alpha)}`) && s.includes("hello from the journal"),
          "alpha's detail view",
        );
        expect(screen).toContain(alpha);
        await api.store.journal.append(alpha, [{ phase: "gate", actor, message: "passed: npm test (live)" }]);
        await tmux.waitFor((s) => s.includes("passed: npm test (live)"), "a live journal line");

        tmux.keys("Escape");
        await tmux.waitFor((s) => s.includes("PROGRESS") && rowOf(s, alpha).startsWith("▶ "), "the table again");

        tmux.keys("/", "b", "e", "t", "a");
        await tmux.waitFor((s) => s.includes("beta task") && !s.includes("alpha task"), "the filtered table");
        tmux.keys("Escape");
        await tmux.waitFor((s) => s.includes("beta task") && s.includes("alpha task"), "the filter cleared");

        tmux.keys("q");
        screen = await tmux.waitFor((s) => s.includes("tui exited with 0"), "the exit");
        // The alternate screen is gone: the table does not linger on the terminal.
        expect(screen).not.toContain("PROGRESS");
      } finally {
        tmux.kill();
        await api.close();
      }
    });
  },
);
