import { SharedEnv, envError, withSecrets } from "@smith/env";
import { z } from "zod";

const Env = z.object({
  ...SharedEnv,
  /** Address to bind. */
  SMITH_API_HOST: z.string().default("127.0.0.1"),
  /** Port to bind (0: any free port). */
  SMITH_API_PORT: z.coerce.number().int().min(0).max(65535).default(7070),
  /** Bootstrap admin token (>= 16 characters), stored hashed on start. Or SMITH_ADMIN_TOKEN_FILE. */
  SMITH_ADMIN_TOKEN: z.string().min(16, "SMITH_ADMIN_TOKEN must be at least 16 characters").optional(),
  /** Replica lock TTL in ms: a replica missing heartbeats this long is considered lost. */
  SMITH_LOCK_TTL_MS: z.coerce.number().int().min(3000).max(600_000).default(30_000),
});
export type ApiEnv = z.infer<typeof Env>;

export function parseEnv(env: NodeJS.ProcessEnv): ApiEnv {
  const input = withSecrets(env, ["SMITH_SIGNING_KEY", "SMITH_ADMIN_TOKEN"]);
  const parsed = Env.safeParse(input);
  if (!parsed.success) throw envError(parsed.error.issues);
  return parsed.data;
}
