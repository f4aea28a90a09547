// A stack whose teardown never runs, for harness.test.ts: an etcd, the API, a scheduler and a loop
// whose agent hangs; once the agent runs this prints its pid and the scheduler's, then exits
// without closing anything (as a worker ended after a test timeout would).
// Run as `node abandonedStack.ts <dir>`.
import { startEtcd } from "@smith/testing/standalone";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { claudeFake, FAKE_PRD } from "./fakes.ts";
import { Stack, writeFakeAgent } from "./harness.ts";
import { demo } from "./support.ts";

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: abandonedStack.ts <dir>\n");
  process.exit(2);
}
const etcd = await startEtcd();
const stack = await Stack.start(etcd.endpoint, "/abandoned/", dir);
const pidFile = join(dir, "agent.pid");
const agent = claudeFake(`fs.writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
await new Promise(() => setInterval(() => {}, 60_000));`);
const scheduler = stack.startScheduler({ SMITH_CLAUDE_BIN: writeFakeAgent(dir, "claude", agent) });
const d = demo(dir, { prd: FAKE_PRD, recordings: {} });
await stack.create({
  spec: { repo: { url: d.remoteUrl }, prd: { kind: "path", path: d.prdPath }, agent: { provider: "claude" } },
});
await stack.waitUntil(async () => existsSync(pidFile) && readFileSync(pidFile, "utf8").length > 0, 60_000, "the agent");
const replicas = await stack.replicas();
const record = (id: string) =>
  JSON.parse(readFileSync(join(dir, "state", "replicas", id, "record.json"), "utf8")) as { pid: number };
process.stdout.write(
  JSON.stringify({
    agent: Number(readFileSync(pidFile, "utf8")),
    scheduler: scheduler.child.pid,
    replicas: replicas.map((r) => record(r.handle.id).pid),
  }) + "\n",
);
process.exit(0);
