import { readFileSync } from "node:fs";
import { LOG_LEVELS } from "@smith/logger";
import { z } from "zod";

/**
 * Environment pieces every Smith process shares. Each app parses its whole environment once, in
 * its own env.ts, from these and its own variables.
 */

/** A secret from `NAME`, or from the file named by `NAME_FILE` (Kubernetes Secrets mount as files). */
export function readSecret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) return readFileSync(file, "utf8").trim();
  return env[name]?.trim() || undefined;
}

/** How much each process logs (JSON lines on stderr). */
export const LogLevelEnv = {
  /** One of fatal, error, warn, info, debug, trace, silent. */
  SMITH_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
};

/** The variables that say where etcd is and which keys are Smith's, and the shared signing key. */
export const SharedEnv = {
  /** Comma-separated etcd client URLs. */
  SMITH_ETCD_ENDPOINTS: z
    .string()
    .default("http://127.0.0.1:2379")
    .transform((s) =>
      s
        .split(",")
        .map((e) => e.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().url("each etcd endpoint must be a URL")).min(1)),
  /** Key prefix in etcd (several installations can share one etcd). */
  SMITH_ETCD_PREFIX: z.string().startsWith("/").default("/smith/v1"),
  /** Replica token signing key (>= 32 bytes), the same for the API and the schedulers. Or SMITH_SIGNING_KEY_FILE. */
  SMITH_SIGNING_KEY: z.string().min(32, "SMITH_SIGNING_KEY must be at least 32 bytes"),
  ...LogLevelEnv,
};

/** The env with file-backed secrets resolved, ready for a schema using SharedEnv. */
export function withSecrets(env: NodeJS.ProcessEnv, names: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const name of names) out[name] = readSecret(env, name);
  return out;
}

/** A readable error listing every variable that is wrong and why. */
export function envError(issues: readonly { path: PropertyKey[]; message: string }[]): Error {
  return new Error(
    `invalid environment:\n${issues.map((i) => `  ${i.path.map(String).join(".") || "env"}: ${i.message}`).join("\n")}`,
  );
}
