// smithctl's administration commands as a child process against a real API on a real etcd:
// tokens, override, delete, cleanup, trace and the audit stream.
import { etcdTest as test } from "@smith/testing";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { LocalProcessExecutor, LocalReplicaInspector } from "@smith/executor";
import { loopInput, runLoop, startTestApi, type TestApi } from "@smith/api/testSupport";

const SMITHCTL = resolve(fileURLToPath(import.meta.url), "../smithctl.ts");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCtl(api: TestApi, dir: string, token: string, args: string[]) {
  return spawn(process.execPath, [SMITHCTL, ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      SMITH_CONFIG: join(dir, "config.json"),
      SMITH_API_URL: api.url,
      SMITH_TOKEN: token,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function run(api: TestApi, dir: string, token: string, args: string[]): Promise<Result> {
  return new Promise<Result>((done) => {
    const child = spawnCtl(api, dir, token, args);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** A finished (cancelled) loop and an active one. */
async function loops(api: TestApi): Promise<{ done: string; live: string }> {
  const op = api.client(api.tokens.operator);
  const { loop: done } = await op.loops.create.mutate(loopInput());
  await op.loops.cancel.mutate({ id: done.id, reason: "finished with it" });
  const { loop: live } = await op.loops.create.mutate(loopInput());
  return { done: done.id, live: live.id };
}

describe("smithctl administration", () => {
  test("tokens create prints the token once, alone on stdout; list shows no secret; revoke refuses it; an operator may not", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const admin = (...args: string[]) => run(api, tmpDir, api.tokens.admin, args);
      const created = await admin("tokens", "create", "ci-bot", "--role", "viewer", "--expires-in-days", "30");
      expect(created.code).toBe(0);
      const token = created.stdout.trim();
      expect(created.stdout).toBe(`${token}\n`);
      expect(created.stderr).toMatch(/^token\/\S+ created \(role viewer, expires \d{4}-.*\): it is shown this once\n$/);
      expect(created.stderr).not.toContain(token);
      const id = /^token\/(\S+) /.exec(created.stderr)?.[1] ?? "";

      // The new token works, as a viewer.
      expect(await run(api, tmpDir, token, ["get", "loops", "-o", "json"])).toMatchObject({ code: 0 });

      const list = await admin("tokens", "list");
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/^ID\s+NAME\s+ROLE\s+STATUS\s+CREATED\s+BY\s+EXPIRES/);
      expect(list.stdout).toMatch(new RegExp(`${id}\\s+ci-bot\\s+viewer\\s+active`));
      const json = await admin("tokens", "list", "-o", "json");
      expect(json.stdout).not.toContain(token);
      expect(json.stdout).not.toMatch(/"hash"/);

      expect(await admin("tokens", "revoke", id)).toMatchObject({ code: 0, stdout: `token/${id} revoked\n` });
      const refused = await run(api, tmpDir, token, ["get", "loops"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/UNAUTHORIZED/);
      expect((await admin("tokens", "list")).stdout).toMatch(new RegExp(`${id}\\s+ci-bot\\s+viewer\\s+revoked`));

      const byOperator = await run(api, tmpDir, api.tokens.operator, ["tokens", "create", "x", "--role", "admin"]);
      expect(byOperator.code).toBe(1);
      expect(byOperator.stderr).toMatch(/FORBIDDEN.*tokens\.create needs the admin role/s);
      expect(await admin("tokens", "create", "x", "--role", "root")).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--role must be one of viewer, operator, admin; got "root"/),
      });
      expect(await admin("tokens", "create", "x", "--role", "viewer", "--expires-in-days", "4000")).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--expires-in-days must be at most 3650; got 4000/),
      });
    } finally {
      await api.close();
    }
  });

  test("override, trace, delete loop and cleanup: active loops are skipped and said so; deletions audited", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const admin = (...args: string[]) => run(api, tmpDir, api.tokens.admin, args);
      const { done, live } = await loops(api);
      const { live: other } = await loops(api);

      expect(await admin("override", live, "--to", "flatline", "--reason", "stuck on CI")).toMatchObject({
        code: 0,
        stdout: `loop/${live} overridden (now flatline)\n`,
      });
      expect(await admin("override", other, "--to", "synced", "--reason", "x")).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/invalid_transition|cannot force a unresolved loop to synced/),
      });
      expect(await admin("override", other, "--to", "done", "--reason", "x")).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--to must be one of unresolved, running, waiting, synced, flatline, cancelled/),
      });

      const trace = await admin("trace", live);
      expect(trace.code).toBe(0);
      expect(trace.stdout).toMatch(new RegExp(`^LOOP\\nID:\\s+${live}\\n`));
      expect(trace.stdout).toMatch(/State:\s+flatline \(operator-override\): stuck on CI/);
      expect(trace.stdout).toMatch(/\nJOURNAL \(\d+ entries\)\n\s+1 /);
      expect(trace.stdout).toMatch(
        /\nOVERRIDES \(1\)\nAT\s+ACTOR\s+FROM\s+TO\s+REASON\n.*unresolved\s+flatline\s+stuck on CI/,
      );
      expect(trace.stdout).toMatch(/\nAUDIT \(2\)\nTIME.*\n.*loops\.create.*\n.*loops\.override/);
      const traceJson = JSON.parse((await admin("trace", live, "-o", "json")).stdout) as { overrides: unknown[] };
      expect(traceJson.overrides).toHaveLength(1);

      // delete: the finished loop goes, the active one is skipped, the unknown one reported; exit 1.
      const unknown = "01jz0000000000000000000000";
      const del = await admin("delete", "loop", done, other, unknown, "--reason", "tidy up");
      expect(del).toMatchObject({ code: 1, stdout: `loop/${done} deleted\n` });
      expect(del.stderr).toBe(
        `loop/${other} skipped: unresolved is active: cancel it first\nloop/${unknown} not found\n`,
      );
      expect(await api.store.loops.get(done)).toBeUndefined();
      expect(await api.store.loops.get(other)).toBeDefined();

      // cleanup: a dry run changes nothing, then the real pass deletes the flatline loop.
      await new Promise((r) => setTimeout(r, 20));
      const dry = await admin("cleanup", "--state", "flatline,unresolved", "--older-than", "10ms", "--dry-run");
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(
        new RegExp(`^LOOP\\s+STATE\\s+SINCE\\s+ACTION\\n${live}\\s+flatline\\s+\\S+\\s+would delete\\n$`),
      );
      expect(dry.stderr).toBe(
        `loop/${other} skipped (unresolved since ${(await api.store.loops.getOrThrow(other)).loop.status.updatedAt}): unresolved is active: cancel it first\n` +
          "1 loop would delete (dry run: nothing changed), 1 skipped\n",
      );
      expect(await api.store.loops.get(live)).toBeDefined();
      const real = await admin("cleanup", "--state", "flatline", "--older-than", "10ms", "-o", "json");
      expect(JSON.parse(real.stdout)).toMatchObject({
        dryRun: false,
        deleted: [{ id: live, state: "flatline" }],
        capped: false,
      });
      expect(await api.store.loops.get(live)).toBeUndefined();

      const events = (await api.store.audit.list()).items;
      const deletions = events.filter((e) => e.action === "loops.delete" || e.action === "loops.cleanup");
      expect(deletions.map((e) => [e.action, e.loopId ?? "-", e.outcome, e.reason ?? "-"])).toEqual([
        ["loops.delete", done, "ok", "tidy up"],
        ["loops.delete", other, "error", "tidy up"],
        ["loops.delete", "-", "ok", "tidy up"],
        ["loops.cleanup", "-", "ok", "-"],
        ["loops.cleanup", live, "ok", "-"],
        ["loops.cleanup", "-", "ok", "-"],
      ]);

      // Bad flags: exit 2 naming the flag and the limit; nothing is asked of the server.
      for (const [args, message] of [
        [["cleanup", "--state", "synced", "--older-than", "soon"], /--older-than must be a duration such as 30d/],
        [["cleanup", "--state", "synced", "--older-than", "40000d"], /--older-than must be at most 36500d/],
        [["cleanup", "--state", "synced", "--older-than", "1d", "--limit", "20000"], /--limit must be at most 10000/],
        [["cleanup", "--older-than", "1d"], /cleanup needs --state/],
        [["cleanup", "--state", "old", "--older-than", "1d"], /--state must be one of/],
        [["delete", "loop"], /delete loop needs at least one loop id/],
      ] as const) {
        const r = await admin(...args);
        expect(r, args.join(" ")).toMatchObject({ code: 2, stderr: expect.stringMatching(message) });
      }
      const byOperator = await run(api, tmpDir, api.tokens.operator, ["delete", "loop", other]);
      expect(byOperator).toMatchObject({ code: 1, stderr: expect.stringMatching(/FORBIDDEN/) });
    } finally {
      await api.close();
    }
  });

  test("get audit -w prints the newest events, then each new one as it is written; Ctrl-C ends it with 0", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const { live } = await loops(api);
      const child = spawnCtl(api, tmpDir, api.tokens.viewer, ["get", "audit", "-w", "--loop", live]);
      let out = "";
      let err = "";
      const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
      const waitFor = (pattern: RegExp) =>
        new Promise<void>((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`no ${pattern} in:\n${out}\n${err}`)), 10_000);
          const check = () => {
            if (pattern.test(out)) {
              clearTimeout(timer);
              res();
            }
          };
          child.stdout.on("data", check);
          check();
        });
      child.stdout.on("data", (b: Buffer) => (out += b.toString()));
      child.stderr.on("data", (b: Buffer) => (err += b.toString()));
      await waitFor(/loops\.create/);
      expect(out).toMatch(/^TIME\s+ACTOR\s+ACTION\s+LOOP\s+OUTCOME\s+DETAIL\n/);
      await api.client(api.tokens.operator).loops.steer.mutate({ id: live, message: "hello" });
      await waitFor(/loops\.steer/);
      await api.client(api.tokens.operator).loops.cancel.mutate({ id: live, reason: "seen \u001b[31mred" });
      await waitFor(/loops\.cancel/);
      // The reason came from a person: its escape sequence is shown, not sent to the terminal.
      expect(out).toContain("seen \\x1b[31mred");
      expect(out).not.toContain("\u001b");
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      const lines = out.trim().split("\n");
      expect(lines.slice(1).map((l) => /loops\.\w+/.exec(l)?.[0])).toEqual([
        "loops.create",
        "loops.steer",
        "loops.cancel",
      ]);
    } finally {
      await api.close();
    }
  });

  test("loops.runtime, logs --replica and exec: a local replica's process, its own log and its workspace; a Kubernetes one this API has no access to is NOT_IMPLEMENTED", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const stateDir = join(tmpDir, "state");
    const executor = new LocalProcessExecutor({
      stateDir,
      command: ["/bin/sh", "-c", "printf 'replica up \\033[31m\\n'; echo working; exec sleep 30"],
      env: {},
      stopGraceMs: 500,
    });
    const api = await startTestApi(etcdEndpoint, prefix, {
      replicaInspectors: [new LocalReplicaInspector({ stateDir })],
    });
    const handles: { kind: string; id: string; instance?: string }[] = [];
    try {
      const op = api.client(api.tokens.operator);
      const { loop } = await op.loops.create.mutate(loopInput());
      const attempt = await runLoop(api, loop.id);
      const fresh = await api.store.loops.getOrThrow(loop.id);
      const handle = await executor.start({ loop: fresh.loop, attempt, token: "t" });
      handles.push(handle);
      await api.store.loops.transition(loop.id, {
        type: "replicaStarted",
        attempt,
        handle,
        at: new Date().toISOString(),
      });

      const runtime = await api.client(api.tokens.viewer).loops.runtime.query({ id: loop.id });
      expect(runtime).toMatchObject({
        loopId: loop.id,
        state: "running",
        attempt: 1,
        executor: { kind: "local", id: handle.id, instance: executor.instance },
        lock: { alive: false },
        replica: { phase: "running", pid: expect.any(Number), node: expect.any(String), startedAt: expect.any(String) },
        inspected: true,
      });

      // The log arrives once the process has written it.
      let out = "";
      for (let i = 0; i < 50 && !out.includes("working"); i++) {
        const r = await run(api, tmpDir, api.tokens.operator, ["logs", "--replica", loop.id]);
        expect(r.code, r.stderr).toBe(0);
        out = r.stdout;
        if (!out.includes("working")) await new Promise((res) => setTimeout(res, 100));
      }
      // The replica's escape sequence is shown, not sent to the terminal.
      expect(out).toBe("replica up \\x1b[31m\nworking\n");
      const tail = await run(api, tmpDir, api.tokens.operator, ["logs", "--replica", loop.id, "--limit-bytes", "8"]);
      expect(tail).toMatchObject({
        code: 0,
        stdout: "working\n",
        stderr: expect.stringMatching(/the last 8 of \d+ bytes/),
      });
      // Operator role: a viewer may see where a replica runs, not read its log.
      const viewer = await run(api, tmpDir, api.tokens.viewer, ["logs", "--replica", loop.id]);
      expect(viewer).toMatchObject({ code: 1, stderr: expect.stringMatching(/FORBIDDEN/) });
      expect(await run(api, tmpDir, api.tokens.operator, ["logs", "--replica", loop.id, "-f"])).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--follow reads the journal; --replica reads the replica's own log/),
      });

      // exec runs in the replica's workspace (made here as the replica would: it clones into it).
      mkdirSync(join(stateDir, "replicas", handle.id, "workspace"), { recursive: true });
      writeFileSync(join(stateDir, "replicas", handle.id, "workspace", "README.md"), "hello\n");
      const ls = await run(api, tmpDir, api.tokens.operator, ["exec", loop.id, "--", "cat", "README.md"]);
      expect(ls).toMatchObject({ code: 0, stdout: "hello\n" });
      const failing = await run(api, tmpDir, api.tokens.operator, [
        "exec",
        loop.id,
        "--",
        "sh",
        "-c",
        "echo no >&2; exit 3",
      ]);
      expect(failing).toMatchObject({ code: 3, stdout: "", stderr: "no\n" });
      expect(await run(api, tmpDir, api.tokens.viewer, ["exec", loop.id, "--", "true"])).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/FORBIDDEN/),
      });
      const long = await run(api, tmpDir, api.tokens.operator, ["exec", loop.id, "--", "echo", "x".repeat(9000)]);
      expect(long).toMatchObject({ code: 1, stderr: expect.stringMatching(/the command is limited to 8192 bytes/) });
      const execAudit = (await api.store.audit.list({ loopId: loop.id })).items.filter(
        (e) => e.action === "loops.exec",
      );
      expect(execAudit.map((e) => [e.outcome, e.details.command, e.details.exitCode])).toEqual([
        ["ok", "cat README.md", 0],
        ["ok", "sh -c echo no >&2; exit 3", 3],
        // The refused one is audited too, as any failed mutation.
        ["error", undefined, undefined],
      ]);
      // The rate limit: 10 a minute per token (the 2 that ran count; the refused one never got that far).
      let limited: { code: number | null; stderr: string } | undefined;
      for (let i = 0; i < 9 && !limited; i++) {
        const r = await run(api, tmpDir, api.tokens.operator, ["exec", loop.id, "--", "true"]);
        if (r.code !== 0) limited = r;
      }
      expect(limited).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/TOO_MANY_REQUESTS.*limited to 10 calls per 60 s per token/s),
      });

      // A replica of an executor this API cannot read (no Kubernetes access configured): a typed error naming what is missing.
      const { loop: k8s } = await op.loops.create.mutate(loopInput());
      const k8sAttempt = await runLoop(api, k8s.id);
      await api.store.loops.transition(k8s.id, {
        type: "replicaStarted",
        attempt: k8sAttempt,
        handle: { kind: "kubernetes", id: "smith-replica-x", instance: "cluster/smith" },
        at: new Date().toISOString(),
      });
      expect(await api.client(api.tokens.viewer).loops.runtime.query({ id: k8s.id })).toMatchObject({
        executor: { kind: "kubernetes" },
        inspected: false,
      });
      const noExec = await run(api, tmpDir, api.tokens.admin, ["exec", k8s.id, "--", "ls"]);
      expect(noExec).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(
          /NOT_IMPLEMENTED.*cannot exec in the Kubernetes replicas of cluster\/smith \(pods\/exec\).*SMITH_K8S_NAMESPACE/s,
        ),
      });
      const unsupported = await run(api, tmpDir, api.tokens.operator, ["logs", "--replica", k8s.id]);
      expect(unsupported).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(
          /NOT_IMPLEMENTED.*no access to the Kubernetes replicas of cluster\/smith \(pods\/log\).*kubectl logs -l smith\.dev\/loop-id=/s,
        ),
      });
    } finally {
      for (const h of handles) await executor.stop(h);
      await api.close();
    }
  });
});
