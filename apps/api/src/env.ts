import { KeyValuePairs, SHARED_SECRETS, SharedEnv, envError, withSecrets } from "@smith/env";
import { LoopSpec } from "@smith/core";
import { parseCredentialsKey } from "@smith/store";
import { z } from "zod";

/** `owner/repo` as GitHub allows them. */
const GITHUB_REPO = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;

/** The spec fields a loop made from a GitHub issue takes from configuration. */
const LoopTemplate = LoopSpec.pick({ agent: true, qualityGates: true, limits: true, pullRequest: true }).partial();

/** A credentials key: checked here so that a bad one stops the API at start, naming the variable (never the key). */
function credentialsKey(name: string) {
  return z.string().superRefine((text, ctx) => {
    try {
      parseCredentialsKey(text, name);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: err instanceof Error ? err.message : `${name} is not a key` });
    }
  });
}

const Env = z
  .object({
    ...SharedEnv,
    /** Address to bind. */
    SMITH_API_HOST: z.string().default("127.0.0.1"),
    /** Port to bind (0: any free port). */
    SMITH_API_PORT: z.coerce.number().int().min(0).max(65535).default(7070),
    /** Bootstrap admin token (>= 16 characters), stored hashed on start. Or SMITH_ADMIN_TOKEN_FILE. */
    SMITH_ADMIN_TOKEN: z.string().min(16, "SMITH_ADMIN_TOKEN must be at least 16 characters").optional(),
    /** Replica lock TTL in ms: a replica missing heartbeats this long is considered lost. */
    SMITH_LOCK_TTL_MS: z.coerce.number().int().min(3000).max(600_000).default(30_000),
    /**
     * Accept file://, local-path and plain-http repository URLs. Only for a single-machine stack or
     * tests: on a shared API it lets any operator have a replica clone the replica's own disk.
     */
    SMITH_ALLOW_LOCAL_REPOS: z
      .enum(["true", "false"])
      .default("false")
      .transform((v) => v === "true"),
    /**
     * Seals credential values in etcd (AES-256-GCM): 32 bytes as base64 or 64 hex digits. Or
     * SMITH_CREDENTIALS_KEY_FILE. Without it the credentials API refuses to store or hand out values.
     */
    SMITH_CREDENTIALS_KEY: credentialsKey("SMITH_CREDENTIALS_KEY").optional(),
    /**
     * Earlier credentials keys, comma- or newline-separated, still opening values sealed before a
     * rotation until `smithctl credentials reseal` has re-sealed them. Or SMITH_CREDENTIALS_PREVIOUS_KEYS_FILE.
     */
    SMITH_CREDENTIALS_PREVIOUS_KEYS: z
      .string()
      .default("")
      .transform((s) => s.split(/[\s,]+/).filter(Boolean))
      .pipe(z.array(credentialsKey("SMITH_CREDENTIALS_PREVIOUS_KEYS")).max(16)),
    /**
     * Where credential values are kept: `etcd` (sealed with SMITH_CREDENTIALS_KEY) or `kubernetes`
     * (a Secret per credential in SMITH_CREDENTIALS_NAMESPACE, metadata in etcd; values sealed in
     * etcd earlier keep opening while SMITH_CREDENTIALS_KEY is given).
     */
    SMITH_CREDENTIALS_BACKEND: z.enum(["etcd", "kubernetes"]).default("etcd"),
    /** The namespace of the credential Secrets (the chart passes the API's own). Required for kubernetes. */
    SMITH_CREDENTIALS_NAMESPACE: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS-1123 label (lower-case letters, digits and -)")
      .optional(),
    /**
     * The schedulers' executor (the chart's ConfigMap sets `kubernetes` for both). With `kubernetes`
     * the API reads the replica Pods of SMITH_K8S_NAMESPACE for loops.runtime, loops.replicaLog and
     * loops.exec, as SMITH_REPLICA_ACCESS allows; with `local` it inspects no replica (only
     * `smith up`'s API, which shares its executor's state dir, does).
     */
    SMITH_EXECUTOR: z.enum(["local", "kubernetes"]).default("local"),
    /** The namespace of the replica Jobs (the chart passes the release namespace). Required for kubernetes. */
    SMITH_K8S_NAMESPACE: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS-1123 label (lower-case letters, digits and -)")
      .optional(),
    /** The executor's extra replica labels, `k=v,k2=v2` (part of its selector; the chart sets app.kubernetes.io/instance). */
    SMITH_REPLICA_LABELS: KeyValuePairs,
    /**
     * What the API may do with Kubernetes replicas: `none`, `read` (loops.runtime and
     * loops.replicaLog: get/list pods, get pods/log) or `exec` (also loops.exec: create pods/exec).
     */
    SMITH_REPLICA_ACCESS: z.enum(["none", "read", "exec"]).default("exec"),
    /** A kubeconfig file for the kubernetes backend and replica access; without it the API uses its Pod's ServiceAccount. */
    KUBECONFIG: z.string().optional(),
    /** The kubeconfig context (default: its current context). */
    SMITH_KUBE_CONTEXT: z.string().optional(),
    /** Set by Kubernetes in every Pod: the in-cluster API server. */
    KUBERNETES_SERVICE_HOST: z.string().optional(),
    KUBERNETES_SERVICE_PORT: z.string().default("443"),
    /** GitHub's REST base URL, for minting App installation tokens (GitHub Enterprise: https://HOST/api/v3). */
    SMITH_GITHUB_API_URL: z.string().url("SMITH_GITHUB_API_URL must be a URL").default("https://api.github.com"),
    /** Shared secret of the GitHub webhook (POST /webhooks/github); without it the endpoint is off. Or _FILE. */
    SMITH_GITHUB_WEBHOOK_SECRET: z
      .string()
      .min(16, "SMITH_GITHUB_WEBHOOK_SECRET must be at least 16 characters")
      .optional(),
    /** The issue label that makes a loop. */
    SMITH_GITHUB_LABEL: z.string().min(1).max(50).default("smith"),
    /** Repositories (`owner/repo,owner/repo`) whose labeled issues are polled, for installations webhooks cannot reach. */
    SMITH_GITHUB_POLL_REPOS: z
      .string()
      .optional()
      .transform((text, ctx) => {
        const items = (text ?? "")
          .split(",")
          .map((t) => t.trim())
          .filter(Boolean);
        if (items.length > 100) {
          ctx.addIssue({ code: "custom", message: "SMITH_GITHUB_POLL_REPOS: at most 100 repositories" });
          return z.NEVER;
        }
        const bad = items.find((t) => !GITHUB_REPO.test(t));
        if (bad !== undefined) {
          ctx.addIssue({
            code: "custom",
            message: `SMITH_GITHUB_POLL_REPOS: ${JSON.stringify(bad)} is not owner/repo`,
          });
          return z.NEVER;
        }
        return items.map((t) => {
          const [owner = "", name = ""] = t.split("/");
          return { owner, name };
        });
      }),
    /** Seconds between two polls of one repository, across all API processes (10 to 86400; default 60). */
    SMITH_GITHUB_POLL_INTERVAL_S: z.coerce.number().int().min(10).max(86_400).default(60),
    /** A token (PAT) for GitHub API calls: issues, permission checks, pull requests. Or _FILE. */
    SMITH_GITHUB_TOKEN: z.string().min(1).optional(),
    /** JSON: agent, qualityGates, limits, pullRequest of loops made from issues. */
    SMITH_GITHUB_LOOP_TEMPLATE: z
      .string()
      .optional()
      .transform((text, ctx) => {
        if (text === undefined) return undefined;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          ctx.addIssue({ code: "custom", message: "SMITH_GITHUB_LOOP_TEMPLATE must be JSON" });
          return z.NEVER;
        }
        const parsed = LoopTemplate.safeParse(value);
        if (!parsed.success) {
          for (const i of parsed.error.issues)
            ctx.addIssue({
              code: "custom",
              message: `SMITH_GITHUB_LOOP_TEMPLATE.${i.path.map(String).join(".")}: ${i.message}`,
            });
          return z.NEVER;
        }
        return parsed.data;
      }),
  })
  .superRefine((env, ctx) => {
    if (env.SMITH_CREDENTIALS_PREVIOUS_KEYS.length > 0 && !env.SMITH_CREDENTIALS_KEY)
      ctx.addIssue({
        code: "custom",
        path: ["SMITH_CREDENTIALS_KEY"],
        message: "SMITH_CREDENTIALS_PREVIOUS_KEYS needs a primary SMITH_CREDENTIALS_KEY",
      });
    if (env.SMITH_EXECUTOR === "kubernetes" && env.SMITH_REPLICA_ACCESS !== "none") {
      if (!env.SMITH_K8S_NAMESPACE)
        ctx.addIssue({
          code: "custom",
          path: ["SMITH_K8S_NAMESPACE"],
          message: "required when SMITH_EXECUTOR=kubernetes (unless SMITH_REPLICA_ACCESS=none)",
        });
      if (!env.KUBECONFIG && !env.KUBERNETES_SERVICE_HOST)
        ctx.addIssue({
          code: "custom",
          path: ["KUBECONFIG"],
          message:
            "SMITH_EXECUTOR=kubernetes needs KUBECONFIG, or to run in a Pod (KUBERNETES_SERVICE_HOST), or SMITH_REPLICA_ACCESS=none",
        });
    }
    if (env.SMITH_CREDENTIALS_BACKEND !== "kubernetes") return;
    if (!env.SMITH_CREDENTIALS_NAMESPACE)
      ctx.addIssue({
        code: "custom",
        path: ["SMITH_CREDENTIALS_NAMESPACE"],
        message: "required when SMITH_CREDENTIALS_BACKEND=kubernetes",
      });
    if (!env.KUBECONFIG && !env.KUBERNETES_SERVICE_HOST)
      ctx.addIssue({
        code: "custom",
        path: ["KUBECONFIG"],
        message: "SMITH_CREDENTIALS_BACKEND=kubernetes needs KUBECONFIG, or to run in a Pod (KUBERNETES_SERVICE_HOST)",
      });
  });
export type ApiEnv = z.infer<typeof Env>;

export function parseEnv(env: NodeJS.ProcessEnv): ApiEnv {
  const input = withSecrets(env, [
    ...SHARED_SECRETS,
    "SMITH_ADMIN_TOKEN",
    "SMITH_CREDENTIALS_KEY",
    "SMITH_CREDENTIALS_PREVIOUS_KEYS",
    "SMITH_GITHUB_WEBHOOK_SECRET",
    "SMITH_GITHUB_TOKEN",
    "SMITH_GITHUB_LOOP_TEMPLATE",
  ]);
  const parsed = Env.safeParse(input);
  if (!parsed.success) throw envError(parsed.error.issues);
  return parsed.data;
}
