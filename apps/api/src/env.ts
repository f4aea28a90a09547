import { readFileSync } from "node:fs";
import { z } from "zod";

/** Reads a secret from VAR or from the file named by VAR_FILE (Kubernetes Secrets mount as files). */
function secret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) return readFileSync(file, "utf8").trim();
  return env[name]?.trim() || undefined;
}

const Env = z.object({
    /** Comma-separated etcd client URLs. */
    SMITH_ETCD_ENDPOINTS: z
      .string()
      .default("http://127.0.0.1:2379")
      .transform((s) => s.split(",").map((e) => e.trim()).filter(Boolean))
      .pipe(z.array(z.string().url("each etcd endpoint must be a URL")).min(1)),
    /** Key prefix in etcd. */
    SMITH_ETCD_PREFIX: z.string().startsWith("/").default("/smith/v1"),
    /** Address to bind. */
    SMITH_API_HOST: z.string().default("127.0.0.1"),
    /** Port to bind (0: any free port). */
    SMITH_API_PORT: z.coerce.number().int().min(0).max(65535).default(7070),
    /** Replica token signing key (>= 32 bytes), shared with the schedulers. Or SMITH_SIGNING_KEY_FILE. */
    SMITH_SIGNING_KEY: z.string().min(32, "SMITH_SIGNING_KEY must be at least 32 bytes"),
    /** Bootstrap admin token (>= 16 characters), stored hashed on start. Or SMITH_ADMIN_TOKEN_FILE. */
    SMITH_ADMIN_TOKEN: z.string().min(16, "SMITH_ADMIN_TOKEN must be at least 16 characters").optional(),
    /** Replica lock TTL in ms: a replica missing heartbeats this long is considered lost. */
    SMITH_LOCK_TTL_MS: z.coerce.number().int().min(3000).max(600_000).default(30_000),
  });
export type ApiEnv = z.infer<typeof Env>;

export function parseEnv(env: NodeJS.ProcessEnv): ApiEnv {
  const input = { ...env, SMITH_SIGNING_KEY: secret(env, "SMITH_SIGNING_KEY"), SMITH_ADMIN_TOKEN: secret(env, "SMITH_ADMIN_TOKEN") };
  const parsed = Env.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".") || "env"}: ${i.message}`);
    throw new Error(`invalid environment:\n${lines.join("\n")}`);
  }
  return parsed.data;
}
