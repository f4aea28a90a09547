#!/usr/bin/env node
import { createLogger } from "@smith/logger";
import { parseAgentRunnerEnv } from "./env.ts";
import { AgentRunnerServer } from "./server.ts";

/**
 * `smith-agent-runner`: the replica Pod's `agent` container. Runs the commands the replica sends
 * over its unix socket (the agent, gates, setup commands) as this container's uid, which holds no
 * token, no Secret and no ServiceAccount token. Exit 0 on SIGTERM (the Pod ending), 1 when it
 * cannot start.
 */
async function main(): Promise<void> {
  const env = parseAgentRunnerEnv(process.env);
  const log = createLogger({ component: "agent-runner", level: env.SMITH_LOG_LEVEL });
  // Files the agent creates are group-writable: the replica (another uid, the Pod's fsGroup)
  // commits them and checks other revisions out over them.
  process.umask(0o002);
  const server = new AgentRunnerServer({
    socketPath: env.SMITH_AGENT_RUNNER_SOCKET,
    root: env.SMITH_AGENT_RUNNER_ROOT,
    env: { HOME: env.HOME, TMPDIR: env.TMPDIR },
    sweep: env.SMITH_AGENT_RUNNER_SWEEP,
    log,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    void server.stop().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  await server.start();
}

main().catch((err: unknown) => {
  process.stderr.write(`smith-agent-runner: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
