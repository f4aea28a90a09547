import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

function secret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) return readFileSync(file, "utf8").trim();
  return env[name]?.trim() || undefined;
}

/** The replica entry point of this checkout, run with this Node binary. */
export function defaultReplicaCommand(): string[] {
  return [process.execPath, resolve(fileURLToPath(import.meta.url), "../../../replica/src/main.ts")];
}

/** Variables a replica inherits from the scheduler (besides what the scheduler sets itself). */
export const REPLICA_ENV_PASSTHROUGH = [
  "PATH",
  "HOME",
  "LANG",
  "LC_ALL",
  "TERM",
  "TMPDIR",
  "TZ",
  "SSH_AUTH_SOCK",
  "GIT_SSH_COMMAND",
  "SMITH_CLAUDE_BIN",
  "SMITH_CODEX_BIN",
  "SMITH_GATE_TIMEOUT_MS",
  "SMITH_HEARTBEAT_MS",
  "ANTHROPIC_API_KEY",
  "CLAUDE_CODE_OAUTH_TOKEN",
  "OPENAI_API_KEY",
  "CODEX_API_KEY",
  "ANTHROPIC_AUTH_TOKEN",
  // Claude Code refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1.
  "IS_SANDBOX",
];

const KeyLimits = z
  .string()
  .default("")
  .transform((s, ctx) => {
    const out: Record<string, number> = {};
    for (const part of s.split(",").map((p) => p.trim()).filter(Boolean)) {
      const [key, n] = part.split("=");
      const limit = Number(n);
      if (!key || !Number.isInteger(limit) || limit < 1) {
        ctx.addIssue({ code: "custom", message: `"${part}" is not key=limit (a positive integer)` });
        continue;
      }
      out[key] = limit;
    }
    return out;
  });

const Env = z.object({
  /** Comma-separated etcd client URLs. */
  SMITH_ETCD_ENDPOINTS: z
    .string()
    .default("http://127.0.0.1:2379")
    .transform((s) => s.split(",").map((e) => e.trim()).filter(Boolean))
    .pipe(z.array(z.string().url("each etcd endpoint must be a URL")).min(1)),
  SMITH_ETCD_PREFIX: z.string().startsWith("/").default("/smith/v1"),
  /** Replica token signing key (>= 32 bytes), the same as the API's. Or SMITH_SIGNING_KEY_FILE. */
  SMITH_SIGNING_KEY: z.string().min(32, "SMITH_SIGNING_KEY must be at least 32 bytes"),
  /** `local` (replicas are processes on this machine) or `kubernetes`. */
  SMITH_EXECUTOR: z.enum(["local", "kubernetes"]).default("local"),
  /** The API URL replicas call. */
  SMITH_API_URL: z.string().url(),
  /** State directory of the local executor (replica run dirs and logs). */
  SMITH_STATE_DIR: z.string().default(join(homedir(), ".local", "state", "smith")),
  /** At most this many loops running at once across all schedulers (unset: no limit). */
  SMITH_MAX_RUNNING: z.coerce.number().int().min(1).optional(),
  /** Loops running at once per concurrency key (by default, per repository). */
  SMITH_CONCURRENCY_PER_KEY: z.coerce.number().int().min(1).default(1),
  /** Per-key overrides: `key=limit,key2=limit`. */
  SMITH_CONCURRENCY_KEYS: KeyLimits,
  /** The replica command as a JSON array (default: this checkout's replica with this Node). */
  SMITH_REPLICA_COMMAND: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s) return defaultReplicaCommand();
      try {
        const v = JSON.parse(s) as unknown;
        if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string")) return v as string[];
      } catch {
        // fall through
      }
      ctx.addIssue({ code: "custom", message: "SMITH_REPLICA_COMMAND must be a JSON array of strings" });
      return [];
    }),
  /** A replica has this long after its claim to take the lock. */
  SMITH_START_GRACE_MS: z.coerce.number().int().min(1000).default(60_000),
  /** First retry delay after a lost replica (doubles per attempt). */
  SMITH_RETRY_BACKOFF_MS: z.coerce.number().int().min(0).default(5_000),
  SMITH_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(200).default(5_000),
  SMITH_POLL_INTERVAL_MS: z.coerce.number().int().min(100).default(2_000),
  /** The scheduler's lease TTL: its claims vanish this long after it dies. */
  SMITH_SESSION_TTL_S: z.coerce.number().int().min(2).max(300).default(10),
});
export type SchedulerEnv = z.infer<typeof Env>;

export function parseEnv(env: NodeJS.ProcessEnv): SchedulerEnv {
  const parsed = Env.safeParse({ ...env, SMITH_SIGNING_KEY: secret(env, "SMITH_SIGNING_KEY") });
  if (!parsed.success) {
    throw new Error(`invalid environment:\n${parsed.error.issues.map((i) => `  ${i.path.join(".") || "env"}: ${i.message}`).join("\n")}`);
  }
  return parsed.data;
}

export function replicaEnv(env: NodeJS.ProcessEnv, apiUrl: string): Record<string, string> {
  const out: Record<string, string> = { SMITH_API_URL: apiUrl };
  for (const name of REPLICA_ENV_PASSTHROUGH) {
    const v = env[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}
