import type { V1EnvVar, V1Job, V1ResourceRequirements, V1Secret, V1Toleration } from "@kubernetes/client-node";
import { createHash } from "node:crypto";

/**
 * The Kubernetes objects of one replica attempt, built by pure functions (no client, no I/O),
 * so that every field can be checked by table-driven tests and by the real API server's
 * validation.
 */

export const LABEL_NAME = "app.kubernetes.io/name";
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_LOOP_ID = "smith.dev/loop-id";
export const LABEL_ATTEMPT = "smith.dev/attempt";
/** The key of the replica token in its per-Job Secret. */
export const TOKEN_KEY = "token";
export const REPLICA_CONTAINER = "replica";
/** The native sidecar that runs the agent, the gates and the setup commands (smith-agent-runner). */
const AGENT_CONTAINER = "agent";
/** The init container that makes the shared directory, owned by the replica's uid, before the agent's mounts it. */
const WORKSPACE_INIT_CONTAINER = "workspace";

/** Where the replica's writable directories are mounted (the root filesystem is read-only). */
export const WORKSPACE_DIR = "/workspace";
/**
 * The part of the workspace volume the agent container sees (a subPath mount at the same path):
 * the clone and the baseline worktree next to it. Owned by the replica's uid, mode 3770 (the Pod's
 * group may write, nobody may rename or remove what is not theirs). The volume's own root is
 * world-writable without a sticky bit (the kubelet's emptyDir), so the agent must not see it:
 * there it could rename the clone away and put one with its own `.git` in its place.
 */
const SHARED_DIR = "/workspace/work";
export const WORK_DIR = "/workspace/work/repo";
export const HOME_DIR = "/home/smith";
/** The agent container's HOME (an emptyDir of its own). */
const AGENT_HOME_DIR = "/home/agent";
/** The emptyDir both containers share for the agent runner's unix socket, and nothing else. */
const RUNNER_DIR = "/var/run/smith/runner";
const RUNNER_SOCKET = `${RUNNER_DIR}/agent.sock`;
const TMP_DIR = "/tmp";
/**
 * Where the replica token's Secret is mounted (read-only, mode 0400). A file and not an env var:
 * a process's environment is readable in /proc/<pid>/environ by every process of its user.
 */
const TOKEN_DIR = "/var/run/smith/token";

/** The manifest-relevant settings of a KubernetesJobExecutor, with every default applied. */
export interface ReplicaTemplate {
  namespace: string;
  image: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  imagePullSecrets: string[];
  /** Overrides the image's entrypoint when not empty. */
  command: string[];
  /** The replica's ServiceAccount: it holds no permissions, and its token is not mounted. */
  serviceAccountName: string;
  resources: V1ResourceRequirements;
  /** A Secret whose keys become the replica's environment (agent provider credentials); may be absent. */
  providerSecretName: string | undefined;
  /** Finished Jobs (and their Pods and token Secrets) are deleted this long after they finished. */
  ttlSecondsAfterFinished: number;
  /** Added to the loop's timeout for the Job's activeDeadlineSeconds (the reconciler enforces the timeout itself). */
  deadlineGraceSeconds: number;
  runAsUser: number;
  runAsGroup: number;
  fsGroup: number;
  /** The agent container's uid (not the replica's); its group is the Pod's fsGroup. */
  agentRunAsUser: number;
  /** The agent container's command (smith-agent-runner under tini in the replica image). */
  agentCommand: string[];
  /** emptyDir size limit of the workspace (a clone plus build output), e.g. `20Gi`. */
  workspaceSizeLimit: string | undefined;
  /** The API URL replicas call. */
  apiUrl: string;
  /** Extra environment for every replica (gate timeout, heartbeat, ...); Smith's own variables win. */
  env: Record<string, string>;
  /** Labels added to every Job, Pod and Secret and part of the executor's label selector (e.g. `app.kubernetes.io/instance`). */
  labels: Record<string, string>;
  nodeSelector: Record<string, string>;
  tolerations: V1Toleration[];
}

export interface ReplicaManifestInput {
  loopId: string;
  attempt: number;
  /** The loop's wall-clock timeout. */
  timeoutMs: number;
}

/** Pod Security "restricted" for every container of the replica Pod. */
const RESTRICTED = {
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 63;

/**
 * `smith-<loop id>-<attempt>`: a DNS-1123 label (the Job controller copies the name into the
 * `batch.kubernetes.io/job-name` label of its Pods, and label values stop at 63 characters).
 * Loop ids are 26 lower-case base32 characters, so the plain form fits; anything else is
 * lower-cased, stripped to [a-z0-9-] and, when too long, shortened with a hash of the id so that
 * two loops never share a name.
 */
export function jobName(loopId: string, attempt: number): string {
  if (!Number.isInteger(attempt) || attempt < 0)
    throw new Error(`attempt must be a non-negative integer, got ${attempt}`);
  const suffix = `-${attempt}`;
  const plain = `smith-${loopId}${suffix}`;
  if (plain.length <= MAX_NAME && DNS_LABEL.test(plain)) return plain;
  const hash = createHash("sha256").update(loopId).digest("hex").slice(0, 10);
  const cleaned = loopId
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  const room = MAX_NAME - "smith-".length - suffix.length - hash.length - 1;
  const head = cleaned.slice(0, Math.max(0, room)).replace(/-+$/, "");
  return `smith-${head ? `${head}-` : ""}${hash}${suffix}`;
}

/** The Secret holding one attempt's replica token. */
export function tokenSecretName(job: string): string {
  return `${job}-token`;
}

/** The labels every replica object carries; the executor selects its Jobs by `selectorLabels`. */
export function selectorLabels(template: Pick<ReplicaTemplate, "labels">): Record<string, string> {
  return { ...template.labels, [LABEL_NAME]: "smith", [LABEL_COMPONENT]: "replica" };
}

/** `k=v,k2=v2`, sorted, for a list/watch `labelSelector`. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ""}`)
    .join(",");
}

function objectLabels(template: ReplicaTemplate, input: ReplicaManifestInput): Record<string, string> {
  return {
    ...selectorLabels(template),
    [LABEL_MANAGED_BY]: "smith-scheduler",
    [LABEL_LOOP_ID]: input.loopId,
    [LABEL_ATTEMPT]: String(input.attempt),
  };
}

/**
 * The batch/v1 Job of one attempt. One Pod, never restarted and never retried by Kubernetes
 * (backoffLimit 0): a retry is a new attempt with a new fencing token, decided by the reconciler.
 */
export function buildJob(template: ReplicaTemplate, input: ReplicaManifestInput): V1Job {
  const name = jobName(input.loopId, input.attempt);
  const labels = objectLabels(template, input);
  // `env` wins over `envFrom`, and Smith's own variables drop any extra variable of the same name:
  // neither the extra environment nor the provider Secret can replace the token, the ids or the
  // API URL.
  const own: V1EnvVar[] = [
    { name: "HOME", value: HOME_DIR },
    { name: "TMPDIR", value: TMP_DIR },
    { name: "SMITH_API_URL", value: template.apiUrl },
    { name: "SMITH_LOOP_ID", value: input.loopId },
    { name: "SMITH_ATTEMPT", value: String(input.attempt) },
    { name: "SMITH_WORK_DIR", value: WORK_DIR },
    { name: "SMITH_TOKEN_FILE", value: `${TOKEN_DIR}/${TOKEN_KEY}` },
    { name: "SMITH_AGENT_RUNNER_SOCKET", value: RUNNER_SOCKET },
  ];
  // SMITH_TOKEN too: an extra variable must not hand the replica another token; SMITH_AGENT_USER
  // would contradict the agent container.
  const ownNames = new Set([...own.map((e) => e.name), "SMITH_TOKEN", "SMITH_AGENT_USER"]);
  const extra = Object.keys(template.env)
    .sort()
    .filter((k) => !ownNames.has(k))
    .map((k): V1EnvVar => ({ name: k, value: template.env[k] ?? "" }));
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: template.namespace, labels },
    spec: {
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      activeDeadlineSeconds: Math.ceil(input.timeoutMs / 1000) + template.deadlineGraceSeconds,
      ttlSecondsAfterFinished: template.ttlSecondsAfterFinished,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          serviceAccountName: template.serviceAccountName,
          // The replica talks only to the Smith API, with its loop-scoped token.
          automountServiceAccountToken: false,
          // No <SERVICE>_HOST variables for every Service in the namespace.
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: template.runAsUser,
            runAsGroup: template.runAsGroup,
            fsGroup: template.fsGroup,
            seccompProfile: { type: "RuntimeDefault" },
          },
          ...(template.imagePullSecrets.length
            ? { imagePullSecrets: template.imagePullSecrets.map((n) => ({ name: n })) }
            : {}),
          ...(Object.keys(template.nodeSelector).length ? { nodeSelector: template.nodeSelector } : {}),
          ...(template.tolerations.length ? { tolerations: template.tolerations } : {}),
          initContainers: [
            {
              // The shared directory must exist, as the replica's, before the agent container's
              // subPath mount of it (the kubelet would make it root's).
              name: WORKSPACE_INIT_CONTAINER,
              image: template.image,
              imagePullPolicy: template.imagePullPolicy,
              command: ["mkdir", "-m", "3770", SHARED_DIR],
              resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
              securityContext: RESTRICTED,
              volumeMounts: [{ name: "workspace", mountPath: WORKSPACE_DIR }],
            },
            {
              // A native sidecar (restartPolicy Always): started before the replica (which waits
              // for its socket to answer: a startup probe, run at most once a second, added a second
              // to every start), stopped by the kubelet when the replica has exited, so the Job
              // completes with the replica. It runs the untrusted commands as another uid and
              // sees only the shared directory, its own HOME and /tmp, and the socket: no token,
              // no provider Secret (the replica sends the agent's environment with each command),
              // no ServiceAccount token, and not the replica's processes (no shared PID namespace).
              name: AGENT_CONTAINER,
              image: template.image,
              imagePullPolicy: template.imagePullPolicy,
              restartPolicy: "Always",
              command: template.agentCommand,
              workingDir: SHARED_DIR,
              env: [
                { name: "HOME", value: AGENT_HOME_DIR },
                { name: "TMPDIR", value: TMP_DIR },
                { name: "SMITH_AGENT_RUNNER_SOCKET", value: RUNNER_SOCKET },
                { name: "SMITH_AGENT_RUNNER_ROOT", value: SHARED_DIR },
                { name: "SMITH_AGENT_RUNNER_SWEEP", value: "true" },
              ],
              resources: template.resources,
              securityContext: { ...RESTRICTED, runAsUser: template.agentRunAsUser, runAsGroup: template.fsGroup },
              volumeMounts: [
                { name: "workspace", mountPath: SHARED_DIR, subPath: "work" },
                { name: "agent-home", mountPath: AGENT_HOME_DIR },
                { name: "agent-tmp", mountPath: TMP_DIR },
                { name: "runner", mountPath: RUNNER_DIR },
              ],
            },
          ],
          containers: [
            {
              name: REPLICA_CONTAINER,
              image: template.image,
              imagePullPolicy: template.imagePullPolicy,
              ...(template.command.length ? { command: template.command } : {}),
              workingDir: WORKSPACE_DIR,
              env: [...extra, ...own],
              ...(template.providerSecretName
                ? { envFrom: [{ secretRef: { name: template.providerSecretName, optional: true } }] }
                : {}),
              // The agent container does the work (builds, tests); the replica clones, commits and
              // pushes. Its memory limit is the agent's: a large repository's clone needs it.
              resources: {
                requests: { cpu: "100m", memory: "256Mi" },
                ...(template.resources.limits?.memory ? { limits: { memory: template.resources.limits.memory } } : {}),
              },
              securityContext: RESTRICTED,
              volumeMounts: [
                { name: "workspace", mountPath: WORKSPACE_DIR },
                { name: "home", mountPath: HOME_DIR },
                { name: "tmp", mountPath: TMP_DIR },
                { name: "token", mountPath: TOKEN_DIR, readOnly: true },
                { name: "runner", mountPath: RUNNER_DIR },
              ],
            },
          ],
          volumes: [
            {
              name: "workspace",
              emptyDir: template.workspaceSizeLimit ? { sizeLimit: template.workspaceSizeLimit } : {},
            },
            { name: "home", emptyDir: {} },
            { name: "tmp", emptyDir: {} },
            { name: "agent-home", emptyDir: {} },
            { name: "agent-tmp", emptyDir: {} },
            { name: "runner", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
            {
              name: "token",
              secret: {
                secretName: tokenSecretName(name),
                defaultMode: 0o400,
                items: [{ key: TOKEN_KEY, path: TOKEN_KEY }],
              },
            },
          ],
        },
      },
    },
  };
}

export interface OwnerJob {
  name: string;
  uid: string;
}

/**
 * The per-Job Secret with the replica token. Its ownerReference is the Job, so Kubernetes' garbage
 * collector deletes it with the Job (also when the Job's TTL expires). The token is never in the
 * Job spec, where anyone allowed to read Jobs would see it.
 */
export function buildTokenSecret(
  template: ReplicaTemplate,
  input: ReplicaManifestInput,
  owner: OwnerJob,
  token: string,
): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: tokenSecretName(owner.name),
      namespace: template.namespace,
      labels: objectLabels(template, input),
      // blockOwnerDeletion is left unset: setting it needs `update` on jobs/finalizers where the
      // OwnerReferencesPermissionEnforcement admission plugin runs, and it only matters for
      // foreground deletion, which the executor does not use.
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: owner.name, uid: owner.uid, controller: true }],
    },
    immutable: true,
    stringData: { [TOKEN_KEY]: token },
  };
}
