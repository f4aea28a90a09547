/**
 * The provider credentials an agent CLI needs to reach its model, kept although their names look
 * secret. Everything else secret-looking is dropped; add more (Bedrock's AWS_*, a GITHUB_TOKEN for
 * an agent that should use `gh`) per deployment with `allow`.
 */
export const DEFAULT_AGENT_CREDENTIALS: readonly string[] = [
  // Claude Code: API key, bearer token for a gateway, or a subscription's long-lived OAuth token.
  "ANTHROPIC_API_KEY",
  "ANTHROPIC_AUTH_TOKEN",
  "CLAUDE_CODE_OAUTH_TOKEN",
  // Codex: OPENAI_API_KEY, or CODEX_API_KEY (what the Codex SDK sets for `codex exec`).
  "OPENAI_API_KEY",
  "CODEX_API_KEY",
];

/** Names that look like they hold a secret. */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|KEY|CREDENTIAL|COOKIE/i;
/** The replica's own configuration, its loop-scoped API token (`SMITH_TOKEN`) among it. */
const SMITH_NAME = /^SMITH_/i;

export interface SanitizeEnvOptions {
  /** More variable names to keep although they look secret (exact names). Never rescues `SMITH_*`. */
  allow?: readonly string[];
}

/**
 * The environment an agent runs with: the replica's minus everything the agent must not see.
 * The agent runs arbitrary commands on whatever a PRD says, so anything in its environment is as
 * good as published: it must never get the replica's API token (which can write the loop's
 * journal and state) nor other credentials of the host. Drops every `SMITH_*` variable and every
 * variable whose name matches /TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|KEY|CREDENTIAL|COOKIE/i,
 * except the provider credentials in `DEFAULT_AGENT_CREDENTIALS` and `options.allow`; keeps the
 * rest (PATH, HOME, LANG, TERM, TZ, proxies, CI, IS_SANDBOX...) and drops undefined values.
 */
export function sanitizeEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: SanitizeEnvOptions = {},
): Record<string, string> {
  const allowed = new Set([...DEFAULT_AGENT_CREDENTIALS, ...(options.allow ?? [])]);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (SMITH_NAME.test(name)) continue;
    if (SECRET_NAME.test(name) && !allowed.has(name)) continue;
    out[name] = value;
  }
  return out;
}
