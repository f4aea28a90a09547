import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { REDACTED, captureLogs, createLogger } from "./index.ts";

describe("createLogger", () => {
  it("writes one JSON record per call with the level name, an ISO time, the component and the fields", () => {
    const { log, records } = captureLogs("api");
    log.info({ loopId: "L1", attempt: 2 }, "replica started");
    expect(records).toEqual([
      {
        level: "info",
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        pid: process.pid,
        hostname: expect.any(String),
        component: "api",
        loopId: "L1",
        attempt: 2,
        msg: "replica started",
      },
    ]);
  });

  it("drops records below its level", () => {
    const { log, records } = captureLogs("scheduler", "warn");
    log.debug("noise");
    log.info("still noise");
    log.warn("kept");
    log.error({ code: 1 }, "kept too");
    expect(records.map((r) => [r.level, r.msg])).toEqual([
      ["warn", "kept"],
      ["error", "kept too"],
    ]);
    expect(log.isLevelEnabled("debug")).toBe(false);
  });

  it("child loggers carry their bindings on every record", () => {
    const { log, records } = captureLogs("scheduler");
    const attemptLog = log.child({ loopId: "L7" }).child({ attempt: 3 });
    attemptLog.info("claimed");
    expect(records[0]).toMatchObject({ component: "scheduler", loopId: "L7", attempt: 3, msg: "claimed" });
  });

  it("redacts token-like fields at the top level and one level down", () => {
    const { log, records } = captureLogs();
    log.info(
      {
        token: "smith_live_abc",
        password: "hunter2",
        apiKey: "sk-123",
        privateKey: "-----BEGIN",
        secret: "s",
        signingKey: "k".repeat(32),
        headers: { authorization: "Bearer abc", Authorization: "Bearer def", accept: "json" },
        credential: { token: "ghp_x" },
        loopId: "L1",
      },
      "call",
    );
    const line = JSON.stringify(records[0]);
    for (const secret of ["smith_live_abc", "hunter2", "sk-123", "BEGIN", "kkkk", "Bearer", "ghp_x"]) {
      expect(line).not.toContain(secret);
    }
    expect(records[0]).toMatchObject({
      token: REDACTED,
      headers: { authorization: REDACTED, Authorization: REDACTED, accept: "json" },
      credential: { token: REDACTED },
      loopId: "L1",
    });
  });

  it("serializes an error under err with its type, message and stack", () => {
    const { log, records } = captureLogs();
    log.error({ err: new TypeError("etcd unavailable") }, "claiming failed");
    expect(records[0]).toMatchObject({
      level: "error",
      msg: "claiming failed",
      err: { type: "TypeError", message: "etcd unavailable", stack: expect.stringContaining("TypeError") },
    });
  });

  it("rejects the message-first call shape at compile time", () => {
    const { log, records } = captureLogs();
    // @ts-expect-error pino would take the object as a printf argument and drop it
    log.info("message", { loopId: "L1" });
    expect(records[0]?.loopId).toBeUndefined();
  });

  it("by default writes to stderr synchronously, so a record just before process.exit is kept", () => {
    const logger = fileURLToPath(new URL("./index.ts", import.meta.url));
    const script = `import { createLogger } from ${JSON.stringify(logger)};
      createLogger({ component: "replica" }).warn({ loopId: "L9" }, "exiting");
      process.exit(3);`;
    let stderr = "";
    let stdout = "";
    try {
      execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", stdio: "pipe" });
    } catch (err) {
      const e = err as { status: number; stderr: string; stdout: string };
      expect(e.status).toBe(3);
      stderr = e.stderr;
      stdout = e.stdout;
    }
    expect(stdout).toBe("");
    expect(JSON.parse(stderr.trim())).toMatchObject({
      level: "warn",
      component: "replica",
      loopId: "L9",
      msg: "exiting",
    });
  });

  it("a level of silent writes nothing", () => {
    const lines: string[] = [];
    const log = createLogger({ component: "x", level: "silent", destination: { write: (l) => void lines.push(l) } });
    log.error("nothing");
    expect(lines).toEqual([]);
  });
});
