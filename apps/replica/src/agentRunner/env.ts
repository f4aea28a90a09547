import { LOG_LEVELS } from "@smith/logger";
import { z } from "zod";

const Env = z.object({
  /** The unix socket to listen on, in a directory the replica's container shares (an emptyDir). */
  SMITH_AGENT_RUNNER_SOCKET: z.string().min(1),
  /** Commands may run only in this directory or below (the shared workspace). */
  SMITH_AGENT_RUNNER_ROOT: z.string().min(1),
  /** This container's HOME and temporary directory, forced into every command's environment. */
  HOME: z.string().min(1),
  TMPDIR: z.string().min(1).default("/tmp"),
  /**
   * After each command, SIGKILL every other process of this uid but PID 1 (what an agent detached
   * from its process group). Only in a container of its own: elsewhere it kills every process of
   * the user. The executor sets it in the replica Pod.
   */
  SMITH_AGENT_RUNNER_SWEEP: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  SMITH_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
});
export type AgentRunnerEnv = z.infer<typeof Env>;

export function parseAgentRunnerEnv(env: NodeJS.ProcessEnv): AgentRunnerEnv {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      `invalid environment:\n${parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n")}`,
    );
  }
  if (parsed.data.SMITH_AGENT_RUNNER_SWEEP && process.getuid?.() === 0)
    throw new Error("invalid environment:\n  SMITH_AGENT_RUNNER_SWEEP: refused as root (it would kill every process)");
  return parsed.data;
}
