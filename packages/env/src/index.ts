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

/** `k=v,k2=v2` into a record (labels, node selectors); an entry without a key is an error. */
export const KeyValuePairs = z
  .string()
  .default("")
  .transform((s, ctx) => {
    const out: Record<string, string> = {};
    for (const part of s
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)) {
      const eq = part.indexOf("=");
      const key = eq > 0 ? part.slice(0, eq).trim() : "";
      if (!key) {
        ctx.addIssue({ code: "custom", message: `"${part}" is not key=value` });
        continue;
      }
      out[key] = part.slice(eq + 1).trim();
    }
    return out;
  });

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
  /** PEM CA that signed etcd's server certificate (turns on TLS to etcd). Or SMITH_ETCD_CA_FILE. */
  SMITH_ETCD_CA: z.string().optional(),
  /** PEM client certificate for an etcd with `--client-cert-auth`. Or SMITH_ETCD_CERT_FILE. */
  SMITH_ETCD_CERT: z.string().optional(),
  /** PEM key of that certificate. Or SMITH_ETCD_KEY_FILE. */
  SMITH_ETCD_KEY: z.string().optional(),
  /** Replica token signing key (>= 32 bytes), the same for the API and the schedulers. Or SMITH_SIGNING_KEY_FILE. */
  SMITH_SIGNING_KEY: z.string().min(32, "SMITH_SIGNING_KEY must be at least 32 bytes"),
  ...LogLevelEnv,
};

/** The variables of SharedEnv read from `NAME_FILE` too; every app passes them to withSecrets. */
export const SHARED_SECRETS = ["SMITH_SIGNING_KEY", "SMITH_ETCD_CA", "SMITH_ETCD_CERT", "SMITH_ETCD_KEY"];

/**
 * The store's TLS options from SMITH_ETCD_CA/CERT/KEY, or undefined (plain, or https checked
 * against the system's roots). A certificate without its key, or either without the CA, is an
 * error naming the variable.
 */
export function etcdTlsFromEnv(env: {
  SMITH_ETCD_CA?: string | undefined;
  SMITH_ETCD_CERT?: string | undefined;
  SMITH_ETCD_KEY?: string | undefined;
}): { ca: string; cert?: string; key?: string } | undefined {
  const { SMITH_ETCD_CA: ca, SMITH_ETCD_CERT: cert, SMITH_ETCD_KEY: key } = env;
  const issues: { path: string[]; message: string }[] = [];
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? "SMITH_ETCD_CERT" : "SMITH_ETCD_KEY";
    issues.push({
      path: [missing],
      message: `${missing} is required with ${cert === undefined ? "SMITH_ETCD_KEY" : "SMITH_ETCD_CERT"}`,
    });
  }
  if (cert !== undefined && ca === undefined)
    issues.push({ path: ["SMITH_ETCD_CA"], message: "SMITH_ETCD_CA is required with a client certificate" });
  if (issues.length) throw envError(issues);
  if (ca === undefined) return undefined;
  return { ca, ...(cert !== undefined && key !== undefined ? { cert, key } : {}) };
}

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
