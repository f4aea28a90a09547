#!/usr/bin/env node
import { endRecordedGroups, ProcessGroupRecords } from "@smith/agents";
import { createSmithClient } from "@smith/client";
import { createLogger } from "@smith/logger";
import { parseEnv } from "./env.ts";
import { ReplicaRunner } from "./runner.ts";
import { takeReplicaToken } from "./token.ts";
import { waitForRunner } from "./retry.ts";
import { AgentUser } from "./agentUser.ts";
import { SharedWorkspace } from "./sharedWorkspace.ts";

/** Where the process groups of this replica's commands are recorded (SMITH_PROCESS_GROUPS_DIR), once known. */
let groupsDir: string | undefined;

/**
 * Exits after SIGKILL to whatever is left of the commands' process groups (a member that ignored
 * SIGTERM is still in its grace when the attempt ends): none outlives the replica.
 */
function exit(code: number): never {
  if (groupsDir !== undefined) endRecordedGroups(groupsDir);
  process.exit(code);
}

/** One attempt of one loop. Exit 0: finalized; 2: stopped (cancelled or superseded); 1: failed. */
async function main(): Promise<number> {
  const env = parseEnv(process.env);
  const log = createLogger({ component: "replica", level: env.SMITH_LOG_LEVEL }).child({
    loopId: env.SMITH_LOOP_ID,
    attempt: env.SMITH_ATTEMPT,
  });
  // First thing: the token file is removed before anything else (an agent above all) runs.
  const token = takeReplicaToken(env);
  delete process.env.SMITH_TOKEN;
  if (token.source === "env")
    log.warn(
      "the replica token came from SMITH_TOKEN: other processes of this user can read it in /proc/<pid>/environ; use SMITH_TOKEN_FILE",
    );
  else if (!token.removed) log.info("the replica token file is on a read-only mount and stays there");
  // The agent runner (the Pod's agent container) must answer within a minute, before anything is cloned; its
  // uid must not be ours, or the agent could read this process's environment and files.
  if (env.SMITH_AGENT_RUNNER_SOCKET) {
    const agent = await waitForRunner(env.SMITH_AGENT_RUNNER_SOCKET);
    if (agent.uid === process.getuid?.())
      throw new Error(`the agent runner runs as this replica's own uid ${agent.uid}: the agent needs a uid of its own`);
    log.info({ agentUid: agent.uid, agentGid: agent.gid }, "agents run in the agent runner's container");
    // What the replica creates stays its own (.git above all); SharedWorkspace grants the rest.
    process.umask(0o022);
  }
  const client = createSmithClient({
    url: env.SMITH_API_URL,
    token: token.token,
    correlationId: `replica-${env.SMITH_LOOP_ID}-${env.SMITH_ATTEMPT}`,
    // One call at a time, each on the journal's latency path: sent at once, not on the next tick.
    batch: false,
  });
  // Agents and gates start from this process's environment minus everything Smith's own
  // (sanitizeEnv drops SMITH_* and other secrets; the replica token never reaches them).
  groupsDir = env.SMITH_PROCESS_GROUPS_DIR;
  const processGroups =
    groupsDir === undefined
      ? undefined
      : new ProcessGroupRecords(groupsDir, (err) => log.warn({ err }, "could not record a command's process group"));
  const runner = new ReplicaRunner({
    client,
    loopId: env.SMITH_LOOP_ID,
    attempt: env.SMITH_ATTEMPT,
    workDir: env.workDir,
    baseEnv: process.env,
    binaries: { claude: env.SMITH_CLAUDE_BIN, codex: env.SMITH_CODEX_BIN },
    gateTimeoutMs: env.SMITH_GATE_TIMEOUT_MS,
    replayStepDelayMs: env.SMITH_REPLAY_STEP_DELAY_MS,
    heartbeatMs: env.SMITH_HEARTBEAT_MS,
    ...(env.SMITH_AGENT_USER ? { agentUser: AgentUser.resolve(env.SMITH_AGENT_USER) } : {}),
    ...(env.SMITH_AGENT_RUNNER_SOCKET
      ? { agentRunner: { socketPath: env.SMITH_AGENT_RUNNER_SOCKET, workspace: new SharedWorkspace() } }
      : {}),
    ...(processGroups ? { processGroups } : {}),
    log: (line) => log.info(line),
  });
  // SIGTERM (the executor stopping us): abort the attempt so that the agent's process tree (its
  // own process group) is killed too, then exit even if something hangs.
  process.on("SIGTERM", () => {
    log.warn({ signal: "SIGTERM" }, "stopping the attempt");
    runner.terminate("the replica received SIGTERM");
    setTimeout(() => exit(2), 3000).unref();
  });
  return runner.run();
}

main().then(
  (code) => exit(code),
  (err: unknown) => {
    process.stderr.write(`smith-replica: ${err instanceof Error ? err.message : String(err)}\n`);
    exit(1);
  },
);
