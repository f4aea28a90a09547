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
  "SMITH_AGENT_USER",
  "ANTHROPIC_API_KEY",
  "CLAUDE_CODE_OAUTH_TOKEN",
  "OPENAI_API_KEY",
  "CODEX_API_KEY",
  "ANTHROPIC_AUTH_TOKEN",
  // Claude Code refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1.
  "IS_SANDBOX",
];

/**
 * The environment of a local replica: the API's URL and the pass-through variables of `env` (the
 * scheduler's own environment, given by the caller), never anything else of it (the signing key).
 */
export function replicaEnv(env: NodeJS.ProcessEnv, apiUrl: string): Record<string, string> {
  const out: Record<string, string> = { SMITH_API_URL: apiUrl };
  for (const name of REPLICA_ENV_PASSTHROUGH) {
    const v = env[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}
