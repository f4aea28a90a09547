// The real `smithctl` binary, as a child process, against a real API on a real etcd.
import type { Loop } from "@smith/core";
import { etcdTest as test } from "@smith/testing";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { parse as parseYaml } from "yaml";
import { startTestApi, TEST_PRD, type TestApi } from "@smith/api/testSupport";

const SMITHCTL = resolve(fileURLToPath(import.meta.url), "../smithctl.ts");
const UNKNOWN_ID = "01jz0000000000000000000000";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Running {
  /** Resolves when stdout has a line matching `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stdout(): string;
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

/** A local port nothing listens on (fetch refuses well-known ports such as 1 outright). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  await new Promise((r) => server.close(r));
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

/** The env of a smithctl run: a private contexts file, so that the user's own is never read. */
function ctlEnv(dir: string, env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "", HOME: dir, SMITH_CONFIG: join(dir, "config.json"), ...env };
}

function start(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [SMITHCTL, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const line = out.split("\n").find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout.on("data", (b: Buffer) => {
    out += b.toString();
    check();
  });
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return {
    waitFor: (pattern, timeoutMs = 10_000) =>
      new Promise<string>((res, rej) => {
        const timer = setTimeout(
          () => rej(new Error(`no line matching ${pattern} within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`)),
          timeoutMs,
        );
        waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), res(line)) });
        check();
      }),
    stdout: () => out,
    stderr: () => err,
    kill: (signal) => child.kill(signal),
    exited,
  };
}

async function run(args: string[], env: Record<string, string>): Promise<Result> {
  const p = start(args, env);
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** smithctl with SMITH_API_URL and SMITH_TOKEN pointing at the test API. */
function ctl(api: TestApi, dir: string, token: string = api.tokens.operator) {
  const env = ctlEnv(dir, { SMITH_API_URL: api.url, SMITH_TOKEN: token });
  return {
    run: (...args: string[]) => run(args, env),
    start: (...args: string[]) => start(args, env),
    /** Runs and expects exit 0; returns stdout. */
    ok: async (...args: string[]) => {
      const r = await run(args, env);
      expect(r, `smithctl ${args.join(" ")}`).toMatchObject({ code: 0 });
      return r.stdout;
    },
  };
}

describe("smithctl", () => {
  test("get loops -o json through a slow pipe: more than 1 MiB arrives whole", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const op = api.client(api.tokens.operator);
      const prd = JSON.parse(TEST_PRD) as { stories: { description: string }[] };
      for (const story of prd.stories) story.description = "x".repeat(150_000);
      for (let i = 0; i < 4; i++)
        await op.loops.create.mutate({
          spec: { repo: { url: "https://example.com/a.git" }, prd: { kind: "inline", content: JSON.stringify(prd) } },
        });
      // A reader that starts late, as `| jq` on a busy machine: smithctl must wait for it.
      const out = join(tmpDir, "out.json");
      const shell = `${JSON.stringify(process.execPath)} ${JSON.stringify(SMITHCTL)} get loops -o json | (sleep 1; cat > ${JSON.stringify(out)})`;
      const child = spawn("sh", ["-c", shell], {
        env: ctlEnv(tmpDir, { SMITH_API_URL: api.url, SMITH_TOKEN: api.tokens.operator }),
        stdio: "ignore",
      });
      expect(await new Promise((r) => child.on("close", r))).toBe(0);
      const text = readFileSync(out, "utf8");
      expect(text.length).toBeGreaterThan(1024 * 1024);
      expect((JSON.parse(text) as { items: unknown[] }).items).toHaveLength(4);
    } finally {
      await api.close();
    }
  });

  test("a loop's life: create -o json, get, describe, logs, steer, retry (refused, then from flatline), cancel, audit, cost", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const c = ctl(api, tmpDir);
      const prdFile = join(tmpDir, "prd.json");
      writeFileSync(prdFile, TEST_PRD);

      const created = JSON.parse(
        await c.ok(
          "create",
          "loop",
          "--repo",
          "https://example.com/acme/app.git",
          "--prd",
          prdFile,
          "--agent",
          "replay",
          "--title",
          "Calc",
          "--max-iterations",
          "12",
          "--priority",
          "300",
          "-o",
          "json",
        ),
      ) as Loop;
      const id = created.id;
      expect(created).toMatchObject({
        spec: {
          title: "Calc",
          prd: { kind: "inline", content: TEST_PRD },
          agent: { provider: "replay" },
          limits: { maxIterations: 12 },
        },
        priority: 300,
        status: { state: "unresolved", attempt: 0, iteration: 0 },
      });
      expect(created.status).toHaveProperty("reason");
      expect(created.status).toHaveProperty("progress");
      await api.store.handoffs.put(id, 1, {
        done: ["US-001 parsed"],
        remaining: ["US-002"],
        validation: { state: "partial" },
        nextSteps: ["print the result"],
      });
      // Reads run side by side: each smithctl is its own process.
      const [asJson, asYaml, asTable, description] = await Promise.all([
        c.ok("get", "loop", id, "-o", "json"),
        c.ok("get", "loop", id, "-o", "yaml"),
        c.ok("get", "loop", id),
        c.ok("describe", "loop", id),
      ]);
      // -o json is the API's object, exactly.
      expect(JSON.parse(asJson)).toEqual(await api.client(api.tokens.viewer).loops.get.query({ id }));
      expect(parseYaml(asYaml)).toEqual(created);

      const table = asTable.split("\n");
      expect(table[0]).toMatch(/^ID\s+TITLE\/REPO\s+STATE\s+REASON\s+PROGRESS\s+ITER\s+ATTEMPT\s+COST\s+AGE$/);
      expect(table[1]?.split(/\s{3,}/).slice(0, 8)).toEqual([
        id,
        "Calc",
        "unresolved",
        "queued",
        "0/2",
        "0",
        "0",
        "$0.00",
      ]);

      expect(description).toContain(`ID:                 ${id}`);
      expect(description).toMatch(/Stories: +0\/2 done\n {2}US-001 {2}One\n {2}US-002 {2}Two/);
      expect(description).toMatch(
        /Latest Handoff: +attempt 1, \S+, validation partial\n {2}Done:\n {4}- US-001 parsed\n {2}Remaining:\n {4}- US-002\n {2}Next Steps:\n {4}- print the result\n/,
      );
      expect(description).toMatch(/Journal \(last 1 of 1\):\n +1 \S+ lifecycle +info +loop created by op/);

      expect(await c.ok("steer", id, "--message", "prefer small commits")).toMatch(
        new RegExp(`^loop/${id} steered \\(message \\w+, 1 pending\\)`),
      );

      const refused = await c.run("retry", id, "--reason", "try again");
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toMatch(/^Error from server \(PRECONDITION_FAILED\): .*unresolved/);

      await api.client(api.tokens.admin).loops.override.mutate({ id, to: "flatline", reason: "for the test" });
      expect(await c.ok("retry", id, "--reason", "fixed the PRD")).toBe(`loop/${id} retried (now unresolved)\n`);
      const cancelled = JSON.parse(await c.ok("cancel", id, "--reason", "superseded", "-o", "json")) as Loop;
      expect(cancelled.status).toMatchObject({ state: "cancelled", reason: "operator-cancelled" });

      const [logs, tail2, since3, tailJson, audit, auditJson, cost, costJson, version] = await Promise.all([
        c.ok("logs", id),
        c.ok("logs", id, "--tail", "2"),
        c.ok("logs", id, "--since-seq", "3"),
        c.ok("logs", id, "-o", "json", "--tail", "1"),
        c.ok("audit", id),
        c.ok("audit", "-o", "json"),
        c.ok("cost", id),
        c.ok("cost", "-o", "json"),
        c.ok("version"),
      ]);
      const logLines = logs.trimEnd().split("\n");
      expect(logLines.map((l) => l.trim().split(/\s+/).slice(0, 1).concat(l.trim().split(/\s+/).slice(2, 4)))).toEqual([
        ["1", "lifecycle", "info"],
        ["2", "steer", "info"],
        ["3", "lifecycle", "info"],
        ["4", "lifecycle", "info"],
        ["5", "lifecycle", "info"],
      ]);
      expect(logLines[1]).toMatch(/steering message from op \(\w+\): prefer small commits$/);
      expect(logLines[4]).toMatch(/cancelled by op \(\w+\): superseded$/);
      expect(
        tail2
          .trimEnd()
          .split("\n")
          .map((l) => l.trim().split(" ")[0]),
      ).toEqual(["4", "5"]);
      expect(
        since3
          .trimEnd()
          .split("\n")
          .map((l) => l.trim().split(" ")[0]),
      ).toEqual(["4", "5"]);
      const jsonLines = tailJson.trimEnd().split("\n");
      expect(jsonLines.map((l) => JSON.parse(l) as { seq: number; loopId: string })).toEqual([
        expect.objectContaining({ seq: 5, loopId: id }),
      ]);

      expect(
        audit
          .trimEnd()
          .split("\n")
          .slice(1)
          .map((l) => l.split(/\s{3,}/).slice(2, 5)),
      ).toEqual([
        ["loops.create", id, "ok"],
        ["loops.steer", id, "ok"],
        ["loops.retry", id, "error"],
        ["loops.override", id, "ok"],
        ["loops.retry", id, "ok"],
        ["loops.cancel", id, "ok"],
      ]);
      expect((JSON.parse(auditJson) as { items: unknown[] }).items.length).toBeGreaterThanOrEqual(6);

      expect(cost.split("\n")[1]?.split(/\s{3,}/)).toEqual([id, "0", "0", "0", "$0.00", "-"]);
      expect(JSON.parse(costJson)).toEqual({ loops: 1, inputTokens: 0, outputTokens: 0, usd: 0 });
      expect(version).toBe("Client Version: 0.1.0\nServer Version: 0.1.0 (API v1)\n");
    } finally {
      await api.close();
    }
  });

  test("get loops: table, wide, json, yaml and --state; create -f with a good file and with a bad item", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const c = ctl(api, tmpDir);
      expect(await c.run("get", "loops")).toEqual({ code: 0, stdout: "", stderr: "No loops found.\n" });

      const good = join(tmpDir, "loops.yaml");
      writeFileSync(
        good,
        [
          "- spec: { title: first, repo: { url: https://example.com/a.git }, prd: { kind: path }, agent: { provider: replay } }",
          "- spec: { title: second, repo: { url: https://example.com/b.git }, prd: { kind: path } }",
          "  priority: 5",
          "  idempotencyKey: second",
        ].join("\n"),
      );
      const batch = (await c.ok("create", "-f", good)).trimEnd().split("\n");
      expect(batch.map((l) => l.split(/\s{3,}/))).toEqual([
        ["INDEX", "ID", "RESULT", "MESSAGE"],
        ["0", expect.stringMatching(/^[0-9a-z]{26}$/), "created", "-"],
        ["1", expect.stringMatching(/^[0-9a-z]{26}$/), "created", "-"],
        ["2 loops: 2 created, 0 existing, 0 failed"],
      ]);
      // Again: the idempotency key finds the second loop; the first is created anew.
      const again = JSON.parse(await c.ok("create", "-f", good, "-o", "json")) as {
        results: { index: number; ok: boolean; created: boolean }[];
      };
      expect(again.results.map((r) => [r.index, r.ok, r.created])).toEqual([
        [0, true, true],
        [1, true, false],
      ]);

      const bad = join(tmpDir, "bad.json");
      writeFileSync(
        bad,
        JSON.stringify([
          { spec: { repo: { url: "https://example.com/c.git" }, prd: { kind: "path" } } },
          { spec: { repo: { url: "" }, prd: { kind: "path" } }, priority: 5000 },
        ]),
      );
      const refused = await c.run("create", "-f", bad);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toMatch(
        /^Error from server \(BAD_REQUEST\): 2 invalid fields\n {2}items\[1\]\.spec\.repo\.url: .+\n {2}items\[1\]\.priority: .+\n$/,
      );

      const all = JSON.parse(await c.ok("get", "loops", "-o", "json")) as { items: Loop[] };
      expect(all.items.map((l) => l.spec.title)).toEqual(["first", "second", "first"]);
      const [newest] = all.items;
      if (!newest) throw new Error("no loops");
      await api.client(api.tokens.operator).loops.cancel.mutate({ id: newest.id, reason: "not needed" });

      expect(parseYaml(await c.ok("get", "loops", "-o", "yaml"))).toEqual(
        JSON.parse(await c.ok("get", "loops", "-o", "json")),
      );
      const cancelled = (await c.ok("get", "loops", "--state", "cancelled")).trimEnd().split("\n");
      expect(cancelled).toHaveLength(2);
      expect(cancelled[1]).toMatch(new RegExp(`^${newest.id}\\s+first\\s+cancelled\\s+operator-cancelled\\s`));
      expect((await c.ok("get", "loops", "--limit", "1")).trimEnd().split("\n")).toHaveLength(2);
      const wide = (await c.ok("get", "loops", "-o", "wide")).trimEnd().split("\n");
      expect(wide[0]).toMatch(/AGE\s+PRIORITY\s+KEY\s+AGENT\s+EXECUTOR\s+PR$/);
      // PRIORITY KEY AGENT EXECUTOR PR (no executor and no pull request yet).
      expect(wide.slice(1).map((l) => l.split(/\s{3,}/).slice(-5))).toEqual([
        ["100", "example.com_a", "replay", "-", "-"],
        ["5", "example.com_b", "claude", "-", "-"],
        ["100", "example.com_a", "replay", "-", "-"],
      ]);
    } finally {
      await api.close();
    }
  });

  test("bad input: the server's message on stderr and exit 1; usage errors exit 2 naming the flag", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const c = ctl(api, tmpDir);
      const { loop } = await api
        .client(api.tokens.operator)
        .loops.create.mutate({ spec: { repo: { url: "https://example.com/a.git" }, prd: { kind: "path" } } });
      const cases: [string[], number, RegExp][] = [
        [
          ["get", "loop", UNKNOWN_ID],
          1,
          new RegExp(`^Error from server \\(NOT_FOUND\\): loop ${UNKNOWN_ID} not found\\n$`),
        ],
        [["describe", "loop", UNKNOWN_ID], 1, /NOT_FOUND/],
        [["logs", UNKNOWN_ID, "-f"], 1, /NOT_FOUND/],
        [["cancel", "not-an-id", "--reason", "x"], 1, /^Error from server \(BAD_REQUEST\): id: must be a loop id/],
        [["cancel", loop.id, "--reason", ""], 1, /^Error from server \(BAD_REQUEST\): reason: a reason is required\n$/],
        [
          ["steer", loop.id, "--message", " "],
          1,
          /^Error from server \(BAD_REQUEST\): message: a steering message cannot be empty\n$/,
        ],
        [
          ["create", "loop", "--repo", "https://git.example.com/r.git", "--prd-path", "p", "--concurrency-key", "a/b"],
          2,
          /^error: --concurrency-key: must not contain whitespace or `\/`\n/,
        ],
        [
          ["create", "loop", "--repo", "https://git.example.com/r.git", "--prd", join(tmpDir, "missing.json")],
          1,
          /^error: cannot read --prd .*missing\.json: ENOENT/,
        ],
        [["get", "loops", "--colour"], 2, /^error: Unknown option '--colour'\nRun 'smithctl --help' for usage\.\n$/],
        [["cancel", loop.id], 2, /cancel needs --reason TEXT/],
        [["frobnicate"], 2, /unknown command "frobnicate"/],
      ];
      const results = await Promise.all(cases.map(([args]) => c.run(...args)));
      cases.forEach(([args, code, stderr], i) => {
        const r = results[i];
        expect({ args, code: r?.code, stdout: r?.stdout }).toEqual({ args, code, stdout: "" });
        expect(r?.stderr).toMatch(stderr);
      });
      // Roles and tokens: the server decides.
      expect((await ctl(api, tmpDir, api.tokens.viewer).run("cancel", loop.id, "--reason", "x")).stderr).toMatch(
        /^Error from server \(FORBIDDEN\)/,
      );
      expect((await ctl(api, tmpDir, "smt.nope.nope").run("get", "loops")).stderr).toMatch(
        /^Error from server \(UNAUTHORIZED\)/,
      );
      const dead = `http://127.0.0.1:${await closedPort()}`;
      const unreachable = await run(["get", "loops"], ctlEnv(tmpDir, { SMITH_API_URL: dead, SMITH_TOKEN: "t" }));
      expect(unreachable).toEqual({
        code: 1,
        stdout: "",
        stderr: `error: cannot reach the Smith API at ${dead}: fetch failed (ECONNREFUSED)\n`,
      });
      expect(await run(["get", "loops"], ctlEnv(tmpDir, {}))).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/^error: no API server/),
      });
      // The loop is untouched by all of that.
      expect((await api.client(api.tokens.viewer).loops.get.query({ id: loop.id })).status.state).toBe("unresolved");
    } finally {
      await api.close();
    }
  });

  test("hostile text in a title and journal messages: escaped by get, describe and logs, exact in -o json and yaml", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const c = ctl(api, tmpDir);
      // What an agent's output or a careless title can carry: clear screen, set the window title
      // (OSC ... BEL), return to column 0 to print over a failure, reverse the text that follows.
      const hostile = ["\u001b[2J", "\u001b]0;x\u0007", "\r ALL TESTS PASSED", "\u202e"];
      const shown = ["\\x1b[2J", "\\x1b]0;x\\x07", "\\r ALL TESTS PASSED", "\\u202e"];
      const title = `t${hostile.join("")}`;
      const { loop } = await api.client(api.tokens.operator).loops.create.mutate({
        spec: { title, repo: { url: "https://example.com/a.git" }, prd: { kind: "path" } },
      });
      await api.store.journal.append(
        loop.id,
        hostile.map((message) => ({ phase: "agent", level: "warn", actor: { type: "agent", id: "fake" }, message })),
      );
      await api.store.journal.append(loop.id, [
        { phase: "gate", actor: { type: "replica", id: "r1" }, message: `FAIL\n${hostile.join("")}` },
      ]);
      // Anything a terminal would act on: C0 but newline, DEL, C1, bidi controls.
      // eslint-disable-next-line no-control-regex -- control characters are what is checked
      const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

      const [table, wide, description, logs, asJson, asYaml, logsJson, badFlag] = await Promise.all([
        c.run("get", "loops"),
        c.run("get", "loop", loop.id, "-o", "wide"),
        c.run("describe", "loop", loop.id),
        c.run("logs", loop.id),
        c.ok("get", "loop", loop.id, "-o", "json"),
        c.ok("get", "loop", loop.id, "-o", "yaml"),
        c.ok("logs", loop.id, "-o", "json"),
        c.run("get", "loops", "--x\u001b[2J"),
      ]);
      for (const r of [table, wide, description, logs, badFlag]) {
        expect(r.stdout + r.stderr).not.toMatch(raw);
      }
      expect(table.stdout.split("\n")[1]).toContain(`t${shown[0]}${shown[1]}${shown[2]}`.slice(0, 39) + "…");
      expect(wide.stdout.split("\n")[1]).toContain(`t${shown[0]}${shown[1]}`);
      expect(description.stdout).toContain(`Title:              t${shown.join("")}\n`);
      const logLines = logs.stdout.trimEnd().split("\n");
      expect(logLines.slice(1).map((l) => l.replace(/^ +\d+ \S+ \S+ +\S+ +/, ""))).toEqual([
        ...shown,
        `FAIL\\n${shown.join("")}`,
      ]);
      expect(description.stdout).toContain(`FAIL\\n${shown.join("")}`);
      expect(badFlag).toMatchObject({ code: 2, stderr: expect.stringContaining("--x\\x1b[2J") });

      // The machine-readable outputs are the data, exactly.
      expect((JSON.parse(asJson) as Loop).spec.title).toBe(title);
      expect((parseYaml(asYaml) as Loop).spec.title).toBe(title);
      const messages = logsJson
        .trimEnd()
        .split("\n")
        .map((l) => (JSON.parse(l) as { message: string }).message);
      expect(messages.slice(1)).toEqual([...hostile, `FAIL\n${hostile.join("")}`]);
    } finally {
      await api.close();
    }
  });

  test("config: set-context, use-context, get-contexts with a temporary SMITH_CONFIG; flags > env > context", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const tokenFile = join(tmpDir, "operator.token");
      writeFileSync(tokenFile, api.tokens.operator + "\n");
      const noEnv = ctlEnv(tmpDir, {});
      const dead = `http://127.0.0.1:${await closedPort()}`;
      const cfg = (...args: string[]) => run(args, noEnv);

      expect(await cfg("config", "set-context", "local", "--url", api.url, "--token-file", tokenFile)).toEqual({
        code: 0,
        stdout: 'Context "local" created. It is the current context.\n',
        stderr: "",
      });
      expect(await cfg("config", "set-context", "dead", "--url", dead, "--token", "secret-token")).toMatchObject({
        code: 0,
        stdout: 'Context "dead" created.\n',
      });
      const contexts = await cfg("config", "get-contexts");
      expect(
        contexts.stdout
          .trimEnd()
          .split("\n")
          .map((l) => l.split(/\s{3,}/)),
      ).toEqual([
        ["CURRENT", "NAME", "SERVER", "AUTH"],
        ["", "dead", dead, "token"],
        ["*", "local", api.url, `token-file ${tokenFile}`],
      ]);
      expect(contexts.stdout).not.toContain("secret-token");
      expect(JSON.parse((await cfg("config", "get-contexts", "-o", "json")).stdout)).toEqual({
        currentContext: "local",
        contexts: { local: { url: api.url, tokenFile }, dead: { url: dead, token: "REDACTED" } },
      });

      // The current context is used (its token read from the file): an operator may create.
      expect(
        (await cfg("create", "loop", "--repo", "https://example.com/a.git", "--prd-path", "prd.json")).stdout,
      ).toMatch(/^loop\/\w{26} created\n$/);
      expect(await cfg("use-context", "x")).toMatchObject({ code: 2 });
      expect(await cfg("config", "use-context", "dead")).toEqual({
        code: 0,
        stdout: 'Switched to context "dead".\n',
        stderr: "",
      });
      expect((await cfg("config", "current-context")).stdout).toBe("dead\n");
      expect((await cfg("get", "loops")).stderr).toBe(
        `error: cannot reach the Smith API at ${dead}: fetch failed (ECONNREFUSED)\n`,
      );
      // --context beats the current context; SMITH_CONTEXT picks one too; SMITH_API_URL beats SMITH_CONTEXT; --server beats all.
      expect((await cfg("get", "loops", "--context", "local")).code).toBe(0);
      expect((await run(["get", "loops"], ctlEnv(tmpDir, { SMITH_CONTEXT: "local" }))).code).toBe(0);
      expect(
        (await run(["get", "loops"], ctlEnv(tmpDir, { SMITH_API_URL: api.url, SMITH_TOKEN: api.tokens.viewer }))).code,
      ).toBe(0);
      expect(
        (
          await run(
            ["get", "loops", "--server", dead],
            ctlEnv(tmpDir, { SMITH_API_URL: api.url, SMITH_TOKEN: api.tokens.viewer }),
          )
        ).stderr,
      ).toContain(dead);
      expect((await cfg("version", "--context", "local")).stdout).toBe(
        "Client Version: 0.1.0\nServer Version: 0.1.0 (API v1)\n",
      );
      expect(await cfg("config", "use-context", "nope")).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/no context named "nope" .* \(known: dead, local\)/),
      });
      expect(await cfg("get", "loops", "--context", "nope")).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/context "nope" \(from --context\) is not in/),
      });
    } finally {
      await api.close();
    }
  });

  test("logs -f prints entries as they are appended and ends when the loop finishes; get loops --watch reprints rows; Ctrl-C ends both with 0", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const c = ctl(api, tmpDir);
      const operator = api.client(api.tokens.operator);
      const { loop } = await operator.loops.create.mutate({
        spec: { title: "followed", repo: { url: "https://example.com/a.git" }, prd: { kind: "path" } },
      });

      const follow = c.start("logs", loop.id, "-f");
      const watch = c.start("get", "loops", "--watch");
      await follow.waitFor(/^ +1 \S+ lifecycle +info +loop created by op/);
      await watch.waitFor(/^ID +TITLE\/REPO +STATE/);
      await watch.waitFor(new RegExp(`^${loop.id} +followed +unresolved `));

      await api.store.journal.append(loop.id, [
        {
          phase: "agent",
          level: "warn",
          actor: { type: "replica", id: "r1" },
          message: "first line\nsecond line",
          exitCode: 3,
        },
      ]);
      expect(await follow.waitFor(/^ +2 /)).toMatch(/^ +2 \S+ agent +warn +first line\\nsecond line \(exit 3\)$/);
      await api.store.journal.append(loop.id, [
        { phase: "gate", actor: { type: "replica", id: "r1" }, message: "npm test passed" },
      ]);
      await follow.waitFor(/^ +3 \S+ gate +info +npm test passed$/);

      const { loop: other } = await operator.loops.create.mutate({
        spec: { title: "second", repo: { url: "https://example.com/b.git" }, prd: { kind: "path" } },
      });
      await watch.waitFor(new RegExp(`^${other.id} +second +unresolved `));

      // Finishing the loop ends logs -f by itself, after the entry that says so.
      await operator.loops.cancel.mutate({ id: loop.id, reason: "done watching" });
      expect(await follow.exited).toBe(0);
      expect(follow.stdout().trimEnd().split("\n").at(-1)).toMatch(
        /^ +4 \S+ lifecycle +info +cancelled by op \(\w+\): done watching$/,
      );
      await watch.waitFor(new RegExp(`^${loop.id} +followed +cancelled +operator-cancelled `));

      watch.kill("SIGINT");
      expect(await watch.exited).toBe(0);
      expect(watch.stderr()).toBe("");

      // Ctrl-C on logs -f of a loop that keeps going.
      const again = c.start("logs", other.id, "--follow", "-o", "json");
      expect(JSON.parse(await again.waitFor(/^\{/))).toMatchObject({ seq: 1, loopId: other.id, phase: "lifecycle" });
      again.kill("SIGINT");
      expect(await again.exited).toBe(0);
    } finally {
      await api.close();
    }
  });
});
