import { LOG_LEVELS } from "@smith/logger";
import { z } from "zod";

const Env = z.object({
  /** The API the replica talks to (its only way to reach Smith). */
  SMITH_API_URL: z.string().url(),
  /**
   * A file holding the loop- and attempt-scoped replica token (minted by the scheduler, written by
   * the executor with mode 0600 outside the workspace). The replica reads it and removes it at start.
   */
  SMITH_TOKEN_FILE: z.string().min(1).optional(),
  /**
   * The replica token itself: a fallback for running a replica by hand, warned about at start,
   * since a process's environment is readable in /proc/<pid>/environ by the same user's processes.
   */
  SMITH_TOKEN: z.string().min(1).optional(),
  SMITH_LOOP_ID: z.string().min(1),
  SMITH_ATTEMPT: z.coerce.number().int().min(1),
  /** Where the workspace is cloned; defaults to `<SMITH_RUN_DIR>/workspace`. */
  SMITH_WORK_DIR: z.string().optional(),
  /** The run directory the executor gives the replica. */
  SMITH_RUN_DIR: z.string().optional(),
  /**
   * Where the replica records the process group of each agent, gate and setup command it runs
   * (the local executor's `<run dir>/children`): they run in sessions of their own, and the
   * executor ends the recorded ones when the replica dies without doing so itself.
   */
  SMITH_PROCESS_GROUPS_DIR: z.string().min(1).optional(),
  /** Agent CLI binaries (default: `claude` and `codex` on PATH). */
  SMITH_CLAUDE_BIN: z.string().optional(),
  SMITH_CODEX_BIN: z.string().optional(),
  /** Timeout of one quality gate command. */
  SMITH_GATE_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(10 * 60_000),
  /** Pause between the replay agent's steps (demos: makes a replayed run watchable). */
  SMITH_REPLAY_STEP_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  /**
   * Run agents, gates and setup commands as this unprivileged user (the replica must be root):
   * the replica's run dir, token file, git askpass and environment are then out of their reach.
   */
  SMITH_AGENT_USER: z.string().min(1).optional(),
  /**
   * Run agents, gates and setup commands through the agent runner on this unix socket (the replica
   * Pod's `agent` container, another uid; see docs/kubernetes.md), in a workspace shared through
   * the Pod's group. Excludes SMITH_AGENT_USER.
   */
  SMITH_AGENT_RUNNER_SOCKET: z.string().min(1).optional(),
  /** Lock renewal / cancel check interval. */
  SMITH_HEARTBEAT_MS: z.coerce.number().int().min(100).default(2_000),
  /** How much the replica logs (JSON lines on stderr, which the executor keeps as replica.log). */
  SMITH_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
});
export type ReplicaEnv = z.infer<typeof Env>;

export function parseEnv(env: NodeJS.ProcessEnv): ReplicaEnv & { workDir: string } {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      `invalid environment:\n${parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n")}`,
    );
  }
  const workDir =
    parsed.data.SMITH_WORK_DIR ?? (parsed.data.SMITH_RUN_DIR ? `${parsed.data.SMITH_RUN_DIR}/workspace` : undefined);
  if (!workDir) throw new Error("invalid environment:\n  SMITH_WORK_DIR: required when SMITH_RUN_DIR is not set");
  if (parsed.data.SMITH_AGENT_USER && parsed.data.SMITH_AGENT_RUNNER_SOCKET)
    throw new Error(
      "invalid environment:\n  SMITH_AGENT_RUNNER_SOCKET: excludes SMITH_AGENT_USER (one way to isolate the agent)",
    );
  return { ...parsed.data, workDir };
}
