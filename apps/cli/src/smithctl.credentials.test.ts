// `smithctl credentials` as a child process against a real API on a real etcd: values go in
// through stdin, a file or an env var, and never come back out.
import { etcdTest as test } from "@smith/testing";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { startTestApi, type TestApi } from "@smith/api/testSupport";

const SMITHCTL = resolve(fileURLToPath(import.meta.url), "../smithctl.ts");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(api: TestApi, dir: string, token: string, args: string[], stdin = "", env: Record<string, string> = {}) {
  return new Promise<Result>((done) => {
    const child = spawn(process.execPath, [SMITHCTL, ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        SMITH_CONFIG: join(dir, "config.json"),
        SMITH_API_URL: api.url,
        SMITH_TOKEN: token,
        ...env,
      },
      cwd: dir,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

async function etcdDump(api: TestApi): Promise<string> {
  const all = await api.store.client.getAll().prefix(api.store.keys.root).exec();
  return all.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`).join("\n");
}

describe("smithctl credentials", () => {
  test("set from stdin, a file and an env var; list, rotate, revoke; the value never comes back", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const admin = (args: string[], stdin?: string, env?: Record<string, string>) =>
        run(api, tmpDir, api.tokens.admin, args, stdin, env);
      const secrets = ["ghp_fromstdin0123456789", "ghp_fromfile0123456789", "sk-ant-fromenv0123456789", "ghp_rotated0"];
      const [fromStdin = "", fromFile = "", fromEnv = "", rotated = ""] = secrets;
      writeFileSync(join(tmpDir, "token"), `${fromFile}\n`);
      const outputs: Result[] = [];
      const ok = async (r: Promise<Result>) => {
        const result = await r;
        outputs.push(result);
        expect(result, JSON.stringify(result)).toMatchObject({ code: 0 });
        return result.stdout;
      };

      expect(
        await ok(admin(["credentials", "set", "acme", "--type", "github-token", "--scope", "acme"], `${fromStdin}\n`)),
      ).toBe("credential/acme created\n");
      await ok(
        admin([
          "credentials",
          "set",
          "other",
          "--type",
          "github-token",
          "--from-file",
          "token",
          "--no-default",
          "--description",
          "bot",
        ]),
      );
      const json = JSON.parse(
        await ok(
          admin(["credentials", "set", "claude", "--type", "anthropic", "--from-env", "KEY", "-o", "json"], "", {
            KEY: fromEnv,
          }),
        ),
      ) as Record<string, unknown>;
      expect(json).toMatchObject({ name: "claude", type: "anthropic", scope: { default: true } });
      expect(await ok(admin(["credentials", "rotate", "acme"], rotated))).toBe("credential/acme rotated\n");
      expect(await ok(admin(["credentials", "revoke", "other"]))).toBe("credential/other revoked\n");

      const table = await ok(admin(["credentials", "list"]));
      expect(table.split("\n")[0]).toMatch(
        /^NAME\s+TYPE\s+SCOPE\s+STATUS\s+CREATED\s+ROTATED\s+LAST USED\s+KEY\s+DESCRIPTION$/,
      );
      expect(table).toMatch(/acme\s+github-token\s+github\.com\/acme\s+active/);
      expect(table).toMatch(/other\s+github-token\s+github\.com\/\* \(named only\)\s+revoked/);
      const listed = JSON.parse(await ok(admin(["credentials", "list", "-o", "json"]))) as { items: unknown[] };
      expect(listed.items).toHaveLength(3);

      // The values went where they should: the replica of a loop on acme/* gets the rotated one.
      const { loop } = await api.client(api.tokens.operator).loops.create.mutate({
        spec: {
          repo: { url: "https://github.com/acme/app.git" },
          prd: { kind: "path" },
          agent: { provider: "claude" },
        },
      });
      const session = await api.store.openSession({ ttlSeconds: 30 });
      const claimed = await api.store.claims.claimNext(session, { perKeyLimit: 100 });
      expect(claimed?.loop.id).toBe(loop.id);
      const resolved = await api
        .client(api.replicaToken(loop.id, claimed?.loop.status.attempt ?? 0))
        .replica.credentials.mutate({ loopId: loop.id });
      expect(resolved.git?.token).toBe(rotated);
      expect(resolved.agent?.env).toEqual({ ANTHROPIC_API_KEY: fromEnv });
      await session.close();

      const printed = outputs.map((o) => o.stdout + o.stderr).join("\n");
      const stored = await etcdDump(api);
      for (const secret of secrets) {
        expect(printed).not.toContain(secret);
        expect(stored).not.toContain(secret);
      }
    } finally {
      await api.close();
    }
  });

  test("refusals: a value on the command line, nothing on stdin, a viewer; nothing written, nothing echoed", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const secret = "ghp_typedonthecommandline";
      const cases: [string, string[], string, number, RegExp][] = [
        [
          api.tokens.admin,
          ["credentials", "set", "a", "--type", "github-token", "--value", secret],
          "",
          2,
          /never take a value on the command line/,
        ],
        [
          api.tokens.admin,
          ["credentials", "set", "a", "--type", "github-token", `--value=${secret}`],
          "",
          2,
          /never take a value/,
        ],
        [api.tokens.admin, ["credentials", "set", "a", secret, "--type", "github-token"], "", 2, /takes one NAME/],
        [
          api.tokens.admin,
          ["credentials", "set", "a", "--type", "github-token"],
          "",
          2,
          /the value is empty \(nothing on stdin\)/,
        ],
        [api.tokens.admin, ["credentials", "set", "a", "--type", "gitlab"], secret, 2, /--type must be one of/],
        [
          api.tokens.admin,
          ["credentials", "set", "a", "--type", "github-token", "--from-env", "NOPE"],
          "",
          2,
          /NOPE is not set/,
        ],
        [api.tokens.viewer, ["credentials", "set", "a", "--type", "github-token"], secret, 1, /admin role/],
        [api.tokens.operator, ["credentials", "list"], "", 1, /admin role/],
      ];
      for (const [token, args, stdin, code, message] of cases) {
        const r = await run(api, tmpDir, token, args, stdin);
        expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(code);
        expect(r.stderr).toMatch(message);
        expect(r.stdout + r.stderr).not.toContain(secret);
      }
      const stored = await etcdDump(api);
      expect(stored).not.toContain("/credentials/");
      expect(stored).not.toContain(secret);
    } finally {
      await api.close();
    }
  });
});
