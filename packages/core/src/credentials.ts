import { z } from "zod";
import { SCHEMA_VERSION } from "./schemaVersion.ts";

/**
 * Credentials: write-only secrets the API keeps encrypted in etcd and hands only to the replica of
 * a loop that needs them. Everything here is metadata; no schema in core carries a value except
 * `CredentialValueInput` (what a client sends once) and `ResolvedCredentials` (what the replica
 * receives for its own attempt).
 */

export const CREDENTIAL_TYPES = ["github-token", "github-app", "anthropic", "openai"] as const;
export const CredentialType = z.enum(CREDENTIAL_TYPES);
export type CredentialType = z.infer<typeof CredentialType>;

/** Which use a credential serves: git (clone, push, GitHub API) or one agent provider's key. */
export type CredentialUse = "git" | "anthropic" | "openai";
export function credentialUse(type: CredentialType): CredentialUse {
  return type === "github-token" || type === "github-app" ? "git" : type;
}

/** The environment variable a provider key reaches the agent as. */
export const PROVIDER_KEY_ENV: Readonly<Record<"anthropic" | "openai", string>> = {
  anthropic: "ANTHROPIC_API_KEY",
  openai: "OPENAI_API_KEY",
};

/** A name is one etcd key segment and a CLI argument: short, lower-case, no `/`. */
export const CredentialName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, "must be lower-case letters, digits, `.`, `_` or `-` (at most 63)");
export type CredentialName = z.infer<typeof CredentialName>;

/** A GitHub owner (user or organization) name, as GitHub allows them. */
const Owner = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/, "must be a repository owner name");
const Host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.-]+(?::\d{1,5})?$/, "must be a host name (optionally with :port)");

/**
 * Which loops use a credential when they name none. A git credential applies to repositories on
 * `host` (default github.com) owned by `owner` (any owner when absent); a provider key applies
 * to loops on repositories owned by `owner` (every loop when absent). The most specific match
 * wins; two credentials with the same use and scope are refused at creation.
 */
export const CredentialScope = z.object({
  host: Host.optional(),
  owner: Owner.optional(),
  /** False: the credential is used only where a loop names it. */
  default: z.boolean().default(true),
});
export type CredentialScope = z.infer<typeof CredentialScope>;

export const DEFAULT_GIT_HOST = "github.com";

/** The non-secret half of a GitHub App credential (the private key is the value). */
export const GitHubAppConfig = z.object({
  appId: z.number().int().positive(),
  /** Looked up per repository (GET /repos/{owner}/{repo}/installation) when absent. */
  installationId: z.number().int().positive().optional(),
});
export type GitHubAppConfig = z.infer<typeof GitHubAppConfig>;

/** What `list` shows: everything but the value. */
export const CredentialMetadata = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  name: CredentialName,
  type: CredentialType,
  scope: CredentialScope,
  app: GitHubAppConfig.optional(),
  description: z.string().max(256).optional(),
  createdAt: z.string().datetime(),
  createdBy: z.string().max(256),
  rotatedAt: z.string().datetime().optional(),
  rotatedBy: z.string().max(256).optional(),
  lastUsedAt: z.string().datetime().optional(),
  revokedAt: z.string().datetime().optional(),
  /** The credentials key the value is sealed with (rotation of SMITH_CREDENTIALS_KEY re-seals). */
  keyId: z.string().max(64).optional(),
  /** The Kubernetes Secret (`namespace/name`) holding the value, with the kubernetes backend. */
  secret: z.string().max(320).optional(),
});
export type CredentialMetadata = z.infer<typeof CredentialMetadata>;

/** The largest value accepted: a GitHub App's PEM private key is about 1.7 KiB. */
export const CREDENTIAL_VALUE_MAX_BYTES = 16 * 1024;

/**
 * A secret value. Zod's messages never echo the input, so a refused value does not come back in
 * the error; the refinements below must keep it that way.
 */
export const CredentialValueInput = z
  .string()
  .min(1, "the value is empty")
  .max(CREDENTIAL_VALUE_MAX_BYTES, `the value is limited to ${CREDENTIAL_VALUE_MAX_BYTES} bytes`);

export const CreateCredentialInput = z
  .object({
    name: CredentialName,
    type: CredentialType,
    value: CredentialValueInput,
    scope: CredentialScope.default({ default: true }),
    app: GitHubAppConfig.optional(),
    description: z
      .string()
      .max(256)
      // eslint-disable-next-line no-control-regex -- shown in terminals: no control characters
      .regex(/^[^\u0000-\u001f\u007f]*$/, "must be one line without control characters")
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.type === "github-app" && !c.app)
      ctx.addIssue({ code: "custom", path: ["app", "appId"], message: "a github-app credential needs app.appId" });
    if (c.type !== "github-app" && c.app)
      ctx.addIssue({ code: "custom", path: ["app"], message: "only a github-app credential has app settings" });
    if (credentialUse(c.type) !== "git" && c.scope.host)
      ctx.addIssue({ code: "custom", path: ["scope", "host"], message: "only git credentials are scoped to a host" });
    if (credentialUse(c.type) === "git" && !valueFits(c.type, c.value))
      ctx.addIssue({
        code: "custom",
        path: ["value"],
        message:
          c.type === "github-app"
            ? "a github-app value must be the App's PEM private key"
            : "a github-token value must be one line without spaces",
      });
  });
export type CreateCredentialInput = z.infer<typeof CreateCredentialInput>;
export type CreateCredentialRequest = z.input<typeof CreateCredentialInput>;

export const RotateCredentialInput = z.object({ name: CredentialName, value: CredentialValueInput });
export type RotateCredentialInput = z.infer<typeof RotateCredentialInput>;

function valueFits(type: CredentialType, value: string): boolean {
  if (type === "github-app") return /-----BEGIN (RSA )?PRIVATE KEY-----/.test(value);
  return /^\S+$/.test(value.trim());
}

/** A token git (and the GitHub API) accepts for the loop's repository. */
export const GitCredential = z.object({
  credential: CredentialName,
  type: z.enum(["github-token", "github-app"]),
  host: z.string(),
  /** The user name git sends with the token (GitHub ignores it for tokens; Apps want x-access-token). */
  username: z.string(),
  token: z.string(),
  /** Installation tokens expire (one hour); a PAT has no expiry here. */
  expiresAt: z.string().datetime().optional(),
});
export type GitCredential = z.infer<typeof GitCredential>;

/** What a replica receives for its attempt: the git token, and env for the agent's provider. */
export const ResolvedCredentials = z.object({
  git: GitCredential.optional(),
  agent: z
    .object({
      credential: CredentialName,
      /** e.g. `{ ANTHROPIC_API_KEY: "..." }`: only for the agent's environment. */
      env: z.record(z.string(), z.string()),
    })
    .optional(),
});
export type ResolvedCredentials = z.infer<typeof ResolvedCredentials>;

/** Where a repository lives, from any URL `git clone` accepts (undefined for local paths). */
export interface RepoLocation {
  host: string;
  owner: string;
  name: string;
}

export function repoLocation(url: string): RepoLocation | undefined {
  const u = url.trim();
  let host: string;
  let path: string;
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(u);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      return undefined;
    }
    if (parsed.protocol === "file:") return undefined;
    host = parsed.host;
    path = parsed.pathname;
  } else if (scp && !u.startsWith("/") && !u.startsWith(".")) {
    host = scp[1] ?? "";
    path = scp[2] ?? "";
  } else {
    return undefined;
  }
  const parts = path
    .replace(/^\/+/, "")
    .replace(/\/+$/, "")
    .replace(/\.git$/, "")
    .split("/");
  const owner = parts[parts.length - 2];
  const name = parts[parts.length - 1];
  if (!host || !owner || !name) return undefined;
  return { host: host.toLowerCase(), owner, name };
}
