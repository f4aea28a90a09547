import { RETENTION_MAX_PER_PASS, type RetentionPolicyInput } from "@smith/core";
import { KeyValuePairs, SHARED_SECRETS, SharedEnv, envError, withSecrets } from "@smith/env";
import { NOTIFY_LIMITS, notifyUrlProblem } from "@smith/core";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubeConfigSource, KubernetesJobExecutorOptions } from "@smith/executor/kubernetes";
import { z } from "zod";

/** The replica entry point of this checkout, run with this Node binary. */
function defaultReplicaCommand(): string[] {
  return [process.execPath, resolve(fileURLToPath(import.meta.url), "../../../replica/src/main.ts")];
}

const KeyLimits = z
  .string()
  .default("")
  .transform((s, ctx) => {
    const out: Record<string, number> = {};
    for (const part of s
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)) {
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

const List = z
  .string()
  .default("")
  .transform((s) =>
    s
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean),
  );

/** A Kubernetes resource quantity (`500m`, `2`, `4Gi`, `1.5G`). */
const Quantity = z
  .string()
  .regex(
    /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/,
    "must be a Kubernetes quantity such as 500m, 2 or 4Gi",
  )
  .optional();

const DnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS-1123 label (lower-case letters, digits and -)");
const DnsSubdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a Kubernetes object name");

const Tolerations = z
  .string()
  .optional()
  .transform((s, ctx) => {
    if (!s) return [];
    try {
      const v = JSON.parse(s) as unknown;
      if (Array.isArray(v) && v.every((t) => typeof t === "object" && t !== null && !Array.isArray(t)))
        return v as NonNullable<KubernetesJobExecutorOptions["tolerations"]>;
    } catch {
      // fall through
    }
    ctx.addIssue({ code: "custom", message: "must be a JSON array of Kubernetes tolerations" });
    return [];
  });

/** A retention window in days (up to 100 years). */
const RetentionDays = z.coerce.number().min(0.001).max(36_500).optional();

const Env = z.object({
  ...SharedEnv,
  /** `local` (replicas are processes on this machine) or `kubernetes`. */
  SMITH_EXECUTOR: z.enum(["local", "kubernetes"]).default("local"),
  /** The API URL replicas call. */
  SMITH_API_URL: z.string().url(),
  /** State directory of the local executor (replica run dirs and logs). */
  SMITH_STATE_DIR: z.string().default(join(homedir(), ".local", "state", "smith")),
  /**
   * Local executor, scheduler running as root: agents, gates and setup commands run as this
   * unprivileged user, and workspaces go to SMITH_AGENT_WORK_ROOT. A comma-separated list is a
   * pool: each replica gets a user no other live replica has (shared once all are busy).
   */
  SMITH_AGENT_USER: z
    .string()
    .regex(
      /^[a-z_][a-z0-9_-]{0,31}(,[a-z_][a-z0-9_-]{0,31}){0,63}$/,
      "SMITH_AGENT_USER must be 1 to 64 user names (1-32 of a-z, 0-9, _ and -) separated by commas",
    )
    .optional(),
  /** Where workspaces go when SMITH_AGENT_USER is set (its parents must let that user pass). */
  SMITH_AGENT_WORK_ROOT: z
    .string()
    .startsWith("/", "SMITH_AGENT_WORK_ROOT must be an absolute path")
    .default("/var/lib/smith/workspaces"),
  /** At most this many loops running at once across all schedulers (unset: no limit). */
  SMITH_MAX_RUNNING: z.coerce.number().int().min(1).optional(),
  /** Loops running at once per concurrency key (by default, per repository). */
  SMITH_CONCURRENCY_PER_KEY: z.coerce.number().int().min(1).default(1),
  /** Per-key overrides: `key=limit,key2=limit`. */
  SMITH_CONCURRENCY_KEYS: KeyLimits,
  /** USD a concurrency key may spend per UTC day: its loops are not claimed once it has (unset: no budget). */
  SMITH_BUDGET_PER_KEY_USD_PER_DAY: z.coerce.number().positive().max(1_000_000).optional(),
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
  /** Finished loops (and their journals, handoffs, overrides) are deleted this many days after they finished. Unset: kept forever. The default of the three windows below. */
  SMITH_RETENTION_DAYS: RetentionDays,
  /** Days `synced` loops are kept (default SMITH_RETENTION_DAYS). */
  SMITH_RETENTION_SYNCED_DAYS: RetentionDays,
  /** Days `flatline` loops are kept (default SMITH_RETENTION_DAYS). */
  SMITH_RETENTION_FLATLINE_DAYS: RetentionDays,
  /** Days `cancelled` loops are kept (default SMITH_RETENTION_DAYS). */
  SMITH_RETENTION_CANCELLED_DAYS: RetentionDays,
  /** Days audit events are kept (whole UTC days). Unset: kept forever. */
  SMITH_RETENTION_AUDIT_DAYS: RetentionDays,
  /** Loops (and audit events) deleted at most per reconcile pass; the rest go in the next. */
  SMITH_RETENTION_MAX_PER_PASS: z.coerce.number().int().min(1).max(RETENTION_MAX_PER_PASS).default(500),
  SMITH_SESSION_TTL_S: z.coerce.number().int().min(2).max(300).default(10),
  /**
   * Comma-separated webhook URLs told of every loop's transitions into waiting, flatline and synced
   * (at most 5, each an http(s) URL of at most 2048 characters without credentials). Needs SMITH_NOTIFY_SECRET.
   */
  SMITH_NOTIFY_URLS: z
    .string()
    .default("")
    .transform((s, ctx) => {
      const urls = s
        .split(",")
        .map((p) => p.trim())
        .filter(Boolean);
      if (urls.length > NOTIFY_LIMITS.urls)
        ctx.addIssue({ code: "custom", message: `at most ${NOTIFY_LIMITS.urls} URLs, got ${urls.length}` });
      urls.forEach((url, i) => {
        const problem =
          url.length > NOTIFY_LIMITS.urlChars
            ? `is longer than ${NOTIFY_LIMITS.urlChars} characters`
            : notifyUrlProblem(url);
        if (problem) ctx.addIssue({ code: "custom", message: `URL ${i + 1} ${problem}` });
      });
      return urls;
    }),
  /** The HMAC-SHA256 key notifications are signed with (X-Smith-Signature); or SMITH_NOTIFY_SECRET_FILE. At least 16 bytes. */
  SMITH_NOTIFY_SECRET: z.string().min(16, "SMITH_NOTIFY_SECRET must be at least 16 bytes").optional(),
  /** Tries per notification target before it is journaled `failed` (backoff 1 s doubling, at most 60 s). */
  SMITH_NOTIFY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  /** Port of /healthz and /readyz for Kubernetes probes (unset: no HTTP listener). */
  SMITH_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Address the health listener binds. */
  SMITH_HEALTH_HOST: z.string().default("0.0.0.0"),

  // --- SMITH_EXECUTOR=kubernetes: replicas are batch/v1 Jobs --------------------------------
  /** Namespace of the replica Jobs (the Helm chart passes the release namespace). Required for kubernetes. */
  SMITH_K8S_NAMESPACE: DnsLabel.optional(),
  /** The replica image (infra/docker/Dockerfile.replica). Required for kubernetes. */
  SMITH_REPLICA_IMAGE: z.string().min(1).optional(),
  SMITH_REPLICA_IMAGE_PULL_POLICY: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent"),
  /** Comma-separated docker-registry Secret names for the replica image. */
  SMITH_REPLICA_IMAGE_PULL_SECRETS: List,
  /** The replica ServiceAccount: no permissions, its token is never mounted (default: `default`). */
  SMITH_REPLICA_SERVICE_ACCOUNT: DnsSubdomain.optional(),
  /** Replica container resources. */
  SMITH_REPLICA_CPU_REQUEST: Quantity.default("500m"),
  SMITH_REPLICA_MEMORY_REQUEST: Quantity.default("1Gi"),
  SMITH_REPLICA_CPU_LIMIT: Quantity,
  SMITH_REPLICA_MEMORY_LIMIT: Quantity.default("4Gi"),
  SMITH_REPLICA_EPHEMERAL_STORAGE_REQUEST: Quantity,
  SMITH_REPLICA_EPHEMERAL_STORAGE_LIMIT: Quantity,
  /** emptyDir size limit of the replica's /workspace. */
  SMITH_REPLICA_WORKSPACE_SIZE_LIMIT: Quantity,
  /** A Secret whose keys become every replica's environment (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...); may be absent. */
  SMITH_PROVIDER_SECRET: DnsSubdomain.optional(),
  /** Finished replica Jobs (and their Pods and token Secrets) are deleted this long after they finish. */
  SMITH_REPLICA_TTL_SECONDS: z.coerce.number().int().min(0).default(3600),
  /** The Job's activeDeadlineSeconds is the loop's timeout plus this. */
  SMITH_REPLICA_DEADLINE_GRACE_SECONDS: z.coerce.number().int().min(0).default(300),
  /** uid (and gid, fsGroup) of the replica container: the image's non-root `smith` user. */
  SMITH_REPLICA_RUN_AS_USER: z.coerce.number().int().min(1).default(1000),
  /**
   * uid of the replica Pod's `agent` container, where the agent, the gates and the setup commands
   * run (the image's `smith-agent`); must differ from SMITH_REPLICA_RUN_AS_USER.
   */
  SMITH_REPLICA_AGENT_RUN_AS_USER: z.coerce.number().int().min(1).default(1001),
  /** Extra labels on replica Jobs and Pods, also in the executor's selector: `k=v,k2=v2` (the chart sets app.kubernetes.io/instance). */
  SMITH_REPLICA_LABELS: KeyValuePairs,
  /** Replica Pod nodeSelector: `k=v,k2=v2`. */
  SMITH_REPLICA_NODE_SELECTOR: KeyValuePairs,
  /** Replica Pod tolerations as a JSON array. */
  SMITH_REPLICA_TOLERATIONS: Tolerations,
  /** A kubeconfig file; without it the scheduler uses its Pod's ServiceAccount (in-cluster). */
  KUBECONFIG: z.string().optional(),
  /** The kubeconfig context (default: its current context). */
  SMITH_KUBE_CONTEXT: z.string().optional(),
  /** Set by Kubernetes in every Pod: the in-cluster API address. */
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  KUBERNETES_SERVICE_PORT: z.string().default("443"),
});
export type SchedulerEnv = z.infer<typeof Env>;

const CheckedEnv = Env.superRefine((env, ctx) => {
  if (env.SMITH_NOTIFY_URLS.length > 0 && !env.SMITH_NOTIFY_SECRET)
    ctx.addIssue({
      code: "custom",
      path: ["SMITH_NOTIFY_SECRET"],
      message: "required when SMITH_NOTIFY_URLS is set: notifications are always signed",
    });
  if (env.SMITH_EXECUTOR !== "kubernetes") return;
  if (!env.SMITH_K8S_NAMESPACE)
    ctx.addIssue({ code: "custom", path: ["SMITH_K8S_NAMESPACE"], message: "required when SMITH_EXECUTOR=kubernetes" });
  if (!env.SMITH_REPLICA_IMAGE)
    ctx.addIssue({ code: "custom", path: ["SMITH_REPLICA_IMAGE"], message: "required when SMITH_EXECUTOR=kubernetes" });
  if (!env.KUBECONFIG && !env.KUBERNETES_SERVICE_HOST) {
    ctx.addIssue({
      code: "custom",
      path: ["KUBECONFIG"],
      message: "SMITH_EXECUTOR=kubernetes needs KUBECONFIG, or to run in a Pod (KUBERNETES_SERVICE_HOST)",
    });
  }
});

/** The retention policy the SMITH_RETENTION_* variables give, or undefined when none is set (keep everything). */
export function retentionPolicy(env: SchedulerEnv): RetentionPolicyInput | undefined {
  const days = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 86_400_000));
  const fallback = env.SMITH_RETENTION_DAYS;
  const windows: RetentionPolicyInput["windows"] = {};
  const synced = days(env.SMITH_RETENTION_SYNCED_DAYS ?? fallback);
  const flatline = days(env.SMITH_RETENTION_FLATLINE_DAYS ?? fallback);
  const cancelled = days(env.SMITH_RETENTION_CANCELLED_DAYS ?? fallback);
  if (synced !== undefined) windows.synced = synced;
  if (flatline !== undefined) windows.flatline = flatline;
  if (cancelled !== undefined) windows.cancelled = cancelled;
  const auditMs = days(env.SMITH_RETENTION_AUDIT_DAYS);
  if (Object.keys(windows).length === 0 && auditMs === undefined) return undefined;
  return { windows, maxPerPass: env.SMITH_RETENTION_MAX_PER_PASS, ...(auditMs !== undefined ? { auditMs } : {}) };
}

export function parseEnv(env: NodeJS.ProcessEnv): SchedulerEnv {
  const parsed = CheckedEnv.safeParse(withSecrets(env, [...SHARED_SECRETS, "SMITH_NOTIFY_SECRET"]));
  if (!parsed.success) {
    throw envError(parsed.error.issues);
  }
  return parsed.data;
}

/** Scheduler variables a replica Job inherits: tuning only. Credentials come from SMITH_PROVIDER_SECRET, never through the Job spec. */
const KUBERNETES_REPLICA_ENV_PASSTHROUGH = [
  "SMITH_GATE_TIMEOUT_MS",
  "SMITH_HEARTBEAT_MS",
  "SMITH_CLAUDE_BIN",
  "SMITH_CODEX_BIN",
  "TZ",
];

/** The KubernetesJobExecutor's options (but the KubeConfig) and where its KubeConfig comes from. */
export function kubernetesExecutorOptions(
  env: SchedulerEnv,
  processEnv: NodeJS.ProcessEnv,
): { source: KubeConfigSource; options: Omit<KubernetesJobExecutorOptions, "kubeConfig"> } {
  if (!env.SMITH_K8S_NAMESPACE || !env.SMITH_REPLICA_IMAGE)
    throw new Error("SMITH_K8S_NAMESPACE and SMITH_REPLICA_IMAGE are required when SMITH_EXECUTOR=kubernetes");
  const source: KubeConfigSource = env.KUBECONFIG
    ? { type: "file", path: env.KUBECONFIG.split(":")[0] ?? env.KUBECONFIG, context: env.SMITH_KUBE_CONTEXT }
    : { type: "in-cluster", host: env.KUBERNETES_SERVICE_HOST ?? "", port: env.KUBERNETES_SERVICE_PORT };
  const quantities = (pairs: [string, string | undefined][]) =>
    Object.fromEntries(pairs.filter((p): p is [string, string] => p[1] !== undefined));
  const passthrough: Record<string, string> = {};
  for (const name of KUBERNETES_REPLICA_ENV_PASSTHROUGH) {
    const v = processEnv[name];
    if (v !== undefined) passthrough[name] = v;
  }
  return {
    source,
    options: {
      namespace: env.SMITH_K8S_NAMESPACE,
      image: env.SMITH_REPLICA_IMAGE,
      apiUrl: env.SMITH_API_URL,
      imagePullPolicy: env.SMITH_REPLICA_IMAGE_PULL_POLICY,
      imagePullSecrets: env.SMITH_REPLICA_IMAGE_PULL_SECRETS,
      serviceAccountName: env.SMITH_REPLICA_SERVICE_ACCOUNT,
      resources: {
        requests: quantities([
          ["cpu", env.SMITH_REPLICA_CPU_REQUEST],
          ["memory", env.SMITH_REPLICA_MEMORY_REQUEST],
          ["ephemeral-storage", env.SMITH_REPLICA_EPHEMERAL_STORAGE_REQUEST],
        ]),
        limits: quantities([
          ["cpu", env.SMITH_REPLICA_CPU_LIMIT],
          ["memory", env.SMITH_REPLICA_MEMORY_LIMIT],
          ["ephemeral-storage", env.SMITH_REPLICA_EPHEMERAL_STORAGE_LIMIT],
        ]),
      },
      providerSecretName: env.SMITH_PROVIDER_SECRET,
      ttlSecondsAfterFinished: env.SMITH_REPLICA_TTL_SECONDS,
      deadlineGraceSeconds: env.SMITH_REPLICA_DEADLINE_GRACE_SECONDS,
      runAsUser: env.SMITH_REPLICA_RUN_AS_USER,
      agentRunAsUser: env.SMITH_REPLICA_AGENT_RUN_AS_USER,
      workspaceSizeLimit: env.SMITH_REPLICA_WORKSPACE_SIZE_LIMIT,
      env: passthrough,
      labels: env.SMITH_REPLICA_LABELS,
      nodeSelector: env.SMITH_REPLICA_NODE_SELECTOR,
      tolerations: env.SMITH_REPLICA_TOLERATIONS,
    },
  };
}
