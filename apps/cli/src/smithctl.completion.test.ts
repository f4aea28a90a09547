// `smithctl completion bash|zsh|fish`: the generated scripts run in the real shells, completing
// commands, flags, values and loop ids (through the hidden `smithctl __complete loops`, against a
// real API on a real etcd).
import { etcdTest as test } from "@smith/testing";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { loopInput, startTestApi } from "@smith/api/testSupport";

const SMITHCTL = resolve(fileURLToPath(import.meta.url), "../smithctl.ts");

/**
 * Runs a shell without blocking: the API serving the ids lives in this process, so a synchronous
 * child would wait on a server that cannot answer.
 */
async function sh(shell: string, script: string, env: Record<string, string>): Promise<string[]> {
  const child = promisify(execFile)(shell, ["-c", script], { env, encoding: "utf8", timeout: 30_000 });
  child.child.stdin?.end();
  const { stdout } = await child;
  return stdout.split("\n").filter(Boolean);
}

function hasShell(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;
}

/** A `smithctl` on PATH, as an installed one would be: the scripts call it by name. */
function installSmithctl(dir: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const path = join(bin, "smithctl");
  writeFileSync(path, `#!/bin/sh\nexec "${process.execPath}" "${SMITHCTL}" "$@"\n`);
  chmodSync(path, 0o755);
  return bin;
}

describe("smithctl completion", () => {
  test("bash: commands, flags, flag values and loop ids from the live API", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const op = api.client(api.tokens.operator);
      const ids = [
        (await op.loops.create.mutate(loopInput())).loop.id,
        (await op.loops.create.mutate(loopInput())).loop.id,
      ];
      const bin = installSmithctl(tmpDir);
      const env = {
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        HOME: tmpDir,
        SMITH_CONFIG: join(tmpDir, "config.json"),
        SMITH_API_URL: api.url,
        SMITH_TOKEN: api.tokens.viewer,
      };
      /** Completes the last word of `line` (a trailing space: an empty word). */
      const complete = (line: string): Promise<string[]> => {
        const words = line.split(" ");
        const script = [
          "source <(smithctl completion bash)",
          `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
          `COMP_CWORD=${words.length - 1}`,
          "_smithctl",
          'printf "%s\\n" "${COMPREPLY[@]}"',
        ].join("\n");
        return sh("bash", script, env);
      };
      expect(await complete("smithctl ")).toEqual(
        expect.arrayContaining(["get", "logs", "trace", "cleanup", "completion"]),
      );
      expect(await complete("smithctl ")).not.toContain("__complete");
      expect(await complete("smithctl tr")).toEqual(["trace"]);
      expect(await complete("smithctl get ")).toEqual(["loops", "loop", "audit"]);
      expect(await complete("smithctl get loops --st")).toEqual(["--state"]);
      expect(await complete("smithctl get loops --state ")).toEqual([
        "unresolved",
        "running",
        "waiting",
        "synced",
        "flatline",
        "cancelled",
      ]);
      expect(await complete("smithctl create loop --ma")).toEqual(["--max-iterations", "--max-cost", "--max-attempts"]);
      expect(await complete("smithctl tokens create ci --role ")).toEqual(["viewer", "operator", "admin"]);
      expect(await complete("smithctl cancel --reason ")).toEqual([]);
      // Loop ids, the newest first, from the API through the hidden command.
      expect(await complete("smithctl logs ")).toEqual([...ids].reverse());
      expect(await complete(`smithctl describe loop ${ids[0]?.slice(0, 25)}`)).toEqual([ids[0]]);
      expect(await complete(`smithctl cancel --reason done `)).toEqual([...ids].reverse());
      expect(await complete(`smithctl delete loop ${ids[0]} `)).toEqual([...ids].reverse());
      expect(await complete("smithctl get audit --loop ")).toEqual([...ids].reverse());
      // A loop id goes where one is expected, and only there.
      expect(await complete(`smithctl logs ${ids[0]} `)).toEqual([]);
      // The connection flags on the command line are the ones the id lookup uses.
      const viaFlags = await sh(
        "bash",
        [
          "source <(smithctl completion bash)",
          `COMP_WORDS=(smithctl --server '${api.url}' --token '${api.tokens.viewer}' trace '')`,
          "COMP_CWORD=6",
          "_smithctl",
          'printf "%s\\n" "${COMPREPLY[@]}"',
        ].join("\n"),
        { ...env, SMITH_API_URL: "http://127.0.0.1:9", SMITH_TOKEN: "nope" },
      );
      expect(viaFlags).toEqual([...ids].reverse());
    } finally {
      await api.close();
    }
  });

  test.runIf(hasShell("zsh"))("zsh: the script parses and completes through bashcompinit", async ({ tmpDir }) => {
    const bin = installSmithctl(tmpDir);
    const env = { PATH: `${bin}:${process.env.PATH ?? ""}`, HOME: tmpDir };
    const script = execFileSync(process.execPath, [SMITHCTL, "completion", "zsh"], { encoding: "utf8" });
    writeFileSync(join(tmpDir, "_smithctl"), script);
    expect(spawnSync("zsh", ["-n", join(tmpDir, "_smithctl")]).status).toBe(0);
    const out = execFileSync(
      "zsh",
      [
        "-c",
        [
          `autoload -U compinit && compinit -u -d ${join(tmpDir, "zcompdump")}`,
          `source ${join(tmpDir, "_smithctl")}`,
          "print -- ${_comps[smithctl]}",
          // Inside a completion, bashcompinit's wrapper runs the function with ksh arrays.
          "setopt ksharrays",
          "COMP_WORDS=(smithctl tokens '')",
          "COMP_CWORD=2",
          "_smithctl",
          'print -l -- "${COMPREPLY[@]}"',
        ].join("\n"),
      ],
      { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    expect(out.split("\n").filter(Boolean)).toEqual(["_bash_complete -F _smithctl", "create", "list", "revoke"]);
  });

  test.runIf(hasShell("fish"))(
    "fish: the script parses and completes commands, flags and loop ids",
    async ({ etcdEndpoint, prefix, tmpDir }) => {
      const api = await startTestApi(etcdEndpoint, prefix);
      try {
        const { loop } = await api.client(api.tokens.operator).loops.create.mutate(loopInput());
        const bin = installSmithctl(tmpDir);
        const env = {
          PATH: `${bin}:${process.env.PATH ?? ""}`,
          HOME: tmpDir,
          XDG_CONFIG_HOME: join(tmpDir, "config"),
          XDG_DATA_HOME: join(tmpDir, "data"),
          SMITH_CONFIG: join(tmpDir, "config.json"),
          SMITH_API_URL: api.url,
          SMITH_TOKEN: api.tokens.viewer,
        };
        const script = join(tmpDir, "smithctl.fish");
        writeFileSync(script, execFileSync(process.execPath, [SMITHCTL, "completion", "fish"], { encoding: "utf8" }));
        expect(spawnSync("fish", ["--no-execute", script]).status).toBe(0);
        const complete = async (line: string) =>
          (await sh("fish", `source ${script}; complete -C "${line}"`, env)).map((l) => l.split("\t")[0]);
        expect(await complete("smithctl tra")).toEqual(["trace"]);
        expect(await complete("smithctl cleanup --dr")).toEqual(["--dry-run"]);
        expect(await complete("smithctl get loops --state fl")).toEqual(["flatline"]);
        expect(await complete("smithctl logs ")).toContain(loop.id);
      } finally {
        await api.close();
      }
    },
  );
});
