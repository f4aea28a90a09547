import {
  BatchV1Api,
  CoreV1Api,
  makeInformer,
  type Informer,
  type KubeConfig,
  type ObjectCache,
  type V1Job,
  type V1ResourceRequirements,
  type V1Toleration,
} from "@kubernetes/client-node";
import {
  SmithError,
  type Executor,
  type ExecutorHandle,
  type ListedReplica,
  type ReplicaLaunch,
  type ReplicaStatus,
} from "@smith/core";
import { ExponentialBackoff, type IBackoff } from "cockatiel";
import { kubeError, kubeStatusCode } from "./errors.ts";
import {
  buildJob,
  buildTokenSecret,
  jobName,
  labelSelector,
  selectorLabels,
  tokenSecretName,
  type ReplicaManifestInput,
  type ReplicaTemplate,
} from "./manifests.ts";
import { jobOwner, replicaStatusFromJob } from "./status.ts";

export interface KubernetesJobExecutorOptions {
  /** How to reach the API server (see `loadKubeConfig`). */
  kubeConfig: KubeConfig;
  /** The namespace of the replica Jobs (the scheduler's own, in the Helm chart). */
  namespace: string;
  /** The replica image (`infra/docker/Dockerfile.replica`). */
  image: string;
  /** The Smith API URL replicas call, e.g. `http://smith-api.smith.svc:7070`. */
  apiUrl: string;
  /** Default `IfNotPresent`. */
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** Names of docker-registry Secrets for a private registry. Default none. */
  imagePullSecrets?: string[];
  /** Overrides the image's entrypoint. Default: the image's. */
  command?: string[];
  /** The replica ServiceAccount (no permissions; its token is never mounted). Default `default`. */
  serviceAccountName?: string;
  /** Default: requests cpu 500m / memory 1Gi, limits memory 4Gi. */
  resources?: V1ResourceRequirements;
  /** A Secret whose keys become environment variables of every replica (ANTHROPIC_API_KEY, ...); may not exist. Default none. */
  providerSecretName?: string;
  /** Finished Jobs, their Pods and token Secrets are deleted this long after finishing. Default 3600. */
  ttlSecondsAfterFinished?: number;
  /** activeDeadlineSeconds = the loop's timeout + this. Default 300. */
  deadlineGraceSeconds?: number;
  /** Default 1000 (the `smith` user of the replica image). */
  runAsUser?: number;
  /** Default: runAsUser. */
  runAsGroup?: number;
  /** Default: runAsGroup. */
  fsGroup?: number;
  /**
   * The uid of the replica Pod's `agent` container, which runs the agent, the gates and the setup
   * commands (group: fsGroup). Must differ from runAsUser. Default 1001 (`smith-agent` in the image).
   */
  agentRunAsUser?: number;
  /** The agent container's command. Default `["/usr/bin/tini", "--", "smith-agent-runner"]` (the replica image's). */
  agentCommand?: string[];
  /** emptyDir size limit of the workspace. Default none (node ephemeral storage). */
  workspaceSizeLimit?: string;
  /** Extra environment for every replica. Default none. */
  env?: Record<string, string>;
  /** Extra labels on every replica object, also selected on (e.g. `app.kubernetes.io/instance`). Default none. */
  labels?: Record<string, string>;
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  /** Server-side field manager. Default `smith-scheduler`. */
  fieldManager?: string;
  /** First delay before the Job watch is re-established after an error; doubles (with jitter) up to 30 s. Default 1000. */
  watchRetryMs?: number;
  /** Told about watch errors (the executor falls back to GETs meanwhile). */
  onWatchError?: (err: Error) => void;
}

export interface ResolvedKubernetesJobExecutorOptions {
  kubeConfig: KubeConfig;
  template: ReplicaTemplate;
  fieldManager: string;
  watchRetryMs: number;
  onWatchError: (err: Error) => void;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function resolveKubernetesJobExecutorOptions(
  options: KubernetesJobExecutorOptions,
): ResolvedKubernetesJobExecutorOptions {
  const invalid = (field: string, message: string) =>
    new SmithError("invalid_argument", `${field}: ${message}`, { field });
  if (!DNS_LABEL.test(options.namespace) || options.namespace.length > 63)
    throw invalid("namespace", `"${options.namespace}" is not a namespace name`);
  if (!options.image.trim()) throw invalid("image", "the replica image is empty");
  if (!/^https?:\/\//.test(options.apiUrl) || !URL.canParse(options.apiUrl))
    throw invalid("apiUrl", `"${options.apiUrl}" is not an http(s) URL`);
  const runAsUser = options.runAsUser ?? 1000;
  // runAsNonRoot: the kubelet refuses uid 0, better said here than in a Pod event.
  if (!Number.isInteger(runAsUser) || runAsUser < 1) throw invalid("runAsUser", "must be a non-root uid (>= 1)");
  const runAsGroup = options.runAsGroup ?? runAsUser;
  const agentRunAsUser = options.agentRunAsUser ?? 1001;
  if (!Number.isInteger(agentRunAsUser) || agentRunAsUser < 1)
    throw invalid("agentRunAsUser", "must be a non-root uid (>= 1)");
  // The same uid would let the agent read the replica's files and write .git.
  if (agentRunAsUser === runAsUser) throw invalid("agentRunAsUser", `must differ from runAsUser (${runAsUser})`);
  const ttl = options.ttlSecondsAfterFinished ?? 3600;
  if (!Number.isInteger(ttl) || ttl < 0) throw invalid("ttlSecondsAfterFinished", "must be a non-negative integer");
  const grace = options.deadlineGraceSeconds ?? 300;
  if (!Number.isInteger(grace) || grace < 0) throw invalid("deadlineGraceSeconds", "must be a non-negative integer");
  return {
    kubeConfig: options.kubeConfig,
    fieldManager: options.fieldManager ?? "smith-scheduler",
    watchRetryMs: options.watchRetryMs ?? 1000,
    onWatchError: options.onWatchError ?? (() => undefined),
    template: {
      namespace: options.namespace,
      image: options.image,
      imagePullPolicy: options.imagePullPolicy ?? "IfNotPresent",
      imagePullSecrets: options.imagePullSecrets ?? [],
      command: options.command ?? [],
      serviceAccountName: options.serviceAccountName ?? "default",
      resources: options.resources ?? { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "4Gi" } },
      providerSecretName: options.providerSecretName || undefined,
      ttlSecondsAfterFinished: ttl,
      deadlineGraceSeconds: grace,
      runAsUser,
      runAsGroup,
      fsGroup: options.fsGroup ?? runAsGroup,
      agentRunAsUser,
      agentCommand: options.agentCommand?.length ? options.agentCommand : ["/usr/bin/tini", "--", "smith-agent-runner"],
      workspaceSizeLimit: options.workspaceSizeLimit || undefined,
      apiUrl: options.apiUrl,
      env: options.env ?? {},
      labels: options.labels ?? {},
      nodeSelector: options.nodeSelector ?? {},
      tolerations: options.tolerations ?? [],
    },
  };
}

type WatchState = "idle" | "starting" | "synced" | "broken" | "closed";

/**
 * Runs each replica attempt as a batch/v1 Job (`smith-<loop>-<attempt>`) with its token in a
 * per-Job Secret owned by the Job.
 *
 * Status comes from ONE informer (list + watch of the executor's Jobs by label selector) kept in
 * memory, not from a GET per loop: the reconciler asks about every running loop on every pass.
 * A Job the cache has not seen yet (just created), or any Job while the watch is broken, is read
 * with a GET. `close()` stops the watch.
 */
export class KubernetesJobExecutor implements Executor {
  readonly kind = "kubernetes";
  private readonly o: ResolvedKubernetesJobExecutorOptions;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly selector: string;
  private informer: (Informer<V1Job> & ObjectCache<V1Job>) | undefined;
  private watchState: WatchState = "idle";
  private watchStart: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Restarts of a broken Job watch back off from watchRetryMs, doubling with jitter, to 30 s. */
  private readonly watchBackoffs: ExponentialBackoff<unknown>;
  private watchBackoff: IBackoff<unknown> | undefined;
  /** Jobs this executor deleted whose DELETED event the watch has not delivered yet. */
  private readonly deleted = new Set<string>();

  constructor(options: KubernetesJobExecutorOptions) {
    this.o = resolveKubernetesJobExecutorOptions(options);
    this.batch = this.o.kubeConfig.makeApiClient(BatchV1Api);
    this.core = this.o.kubeConfig.makeApiClient(CoreV1Api);
    this.selector = labelSelector(selectorLabels(this.o.template));
    this.watchBackoffs = new ExponentialBackoff({ initialDelay: this.o.watchRetryMs, maxDelay: 30_000 });
  }

  get namespace(): string {
    return this.o.template.namespace;
  }

  /** Every executor on the same namespace sees the same Jobs, whichever scheduler created them. */
  get instance(): string {
    return `kubernetes/${this.o.template.namespace}`;
  }

  /** The label selector of this executor's Jobs. */
  get labelSelector(): string {
    return this.selector;
  }

  /** True while the in-memory Job cache follows the API server. */
  get watching(): boolean {
    return this.watchState === "synced";
  }

  async start(launch: ReplicaLaunch): Promise<ExecutorHandle> {
    const input: ReplicaManifestInput = {
      loopId: launch.loop.id,
      attempt: launch.attempt,
      timeoutMs: launch.loop.spec.limits.timeoutMs,
    };
    const template = this.o.template;
    const body = buildJob(template, input);
    const name = jobName(input.loopId, input.attempt);
    const job = await this.createJob(name, body, input);
    const uid = job.metadata?.uid;
    if (!uid) throw new SmithError("internal", `the API server returned Job ${name} without a uid`);
    // The Job first, then its Secret: the Secret's ownerReference needs the Job's uid. The Pod
    // waits (CreateContainerConfigError) until the Secret exists, which is a moment later.
    const secret = buildTokenSecret(template, input, { name, uid }, launch.token);
    try {
      await this.core.createNamespacedSecret({
        namespace: template.namespace,
        body: secret,
        fieldManager: this.o.fieldManager,
      });
    } catch (err) {
      if (kubeStatusCode(err) === 409) {
        // The same attempt started again (its scheduler died before recording the handle): the
        // Secret is immutable, so replace it by delete + create with the fresh token.
        await this.deleteSecret(name);
        await this.core
          .createNamespacedSecret({ namespace: template.namespace, body: secret, fieldManager: this.o.fieldManager })
          .catch((e: unknown) => {
            throw kubeError(e, `creating Secret ${secret.metadata?.name ?? ""}`);
          });
      } else {
        // Without its token the replica cannot run: do not leave a Job that waits forever.
        await this.deleteJob(name).catch(() => undefined);
        throw kubeError(err, `creating Secret ${secret.metadata?.name ?? ""}`);
      }
    }
    this.deleted.delete(name);
    return { kind: this.kind, id: name, instance: this.instance };
  }

  private async createJob(name: string, body: V1Job, input: ReplicaManifestInput): Promise<V1Job> {
    const namespace = this.o.template.namespace;
    try {
      return await this.batch.createNamespacedJob({ namespace, body, fieldManager: this.o.fieldManager });
    } catch (err) {
      if (kubeStatusCode(err) !== 409) throw kubeError(err, `creating Job ${name}`);
      const existing = await this.readJob(name);
      const owner = existing && jobOwner(existing);
      if (
        !existing ||
        existing.metadata?.deletionTimestamp ||
        owner?.loopId !== input.loopId ||
        owner.attempt !== input.attempt
      ) {
        throw kubeError(err, `creating Job ${name}`);
      }
      return existing;
    }
  }

  async status(handle: ExecutorHandle): Promise<ReplicaStatus> {
    if (handle.kind !== this.kind) return { phase: "unknown", message: `not a ${this.kind} handle` };
    const name = handle.id;
    if (this.deleted.has(name)) return { phase: "unknown", message: "the Job was deleted" };
    await this.ensureWatch();
    const cached = this.watchState === "synced" ? this.informer?.get(name, this.o.template.namespace) : undefined;
    if (cached) return replicaStatusFromJob(cached);
    return replicaStatusFromJob(await this.readJob(name));
  }

  /** Deletes the Job (its Pod goes with it) and its token Secret. Deleting a deleted Job is not an error. */
  async stop(handle: ExecutorHandle): Promise<void> {
    if (handle.kind !== this.kind) return;
    const name = handle.id;
    // Until the watch delivers the deletion, the cache still holds the Job: remember it.
    if (await this.deleteJob(name)) this.deleted.add(name);
    // The Secret's ownerReference lets the garbage collector delete it with the Job; deleting it
    // here as well revokes the token at once and does not depend on a running garbage collector.
    await this.deleteSecret(name);
  }

  async list(): Promise<ListedReplica[]> {
    await this.ensureWatch();
    const namespace = this.o.template.namespace;
    const jobs: readonly V1Job[] =
      this.watchState === "synced" && this.informer
        ? this.informer.list(namespace)
        : (
            await this.batch.listNamespacedJob({ namespace, labelSelector: this.selector }).catch((err: unknown) => {
              throw kubeError(err, "listing Jobs");
            })
          ).items;
    const out: ListedReplica[] = [];
    for (const job of jobs) {
      const name = job.metadata?.name;
      const owner = jobOwner(job);
      if (!name || !owner || this.deleted.has(name)) continue;
      out.push({
        handle: { kind: this.kind, id: name, instance: this.instance },
        loopId: owner.loopId,
        attempt: owner.attempt,
        status: replicaStatusFromJob(job),
      });
    }
    return out.sort((a, b) => a.handle.id.localeCompare(b.handle.id));
  }

  /** Stops the Job watch. Jobs keep running: they outlive the scheduler. */
  async close(): Promise<void> {
    this.watchState = "closed";
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.informer?.stop();
  }

  private async readJob(name: string): Promise<V1Job | undefined> {
    try {
      return await this.batch.readNamespacedJob({ name, namespace: this.o.template.namespace });
    } catch (err) {
      if (kubeStatusCode(err) === 404) return undefined;
      throw kubeError(err, `reading Job ${name}`);
    }
  }

  /** True when there was a Job to delete. */
  private async deleteJob(name: string): Promise<boolean> {
    try {
      // Background: the Job is gone at once and the garbage collector deletes its Pod (and the
      // Secret it owns). Foreground would keep the Job, with a finalizer, until then.
      await this.batch.deleteNamespacedJob({
        name,
        namespace: this.o.template.namespace,
        propagationPolicy: "Background",
      });
      return true;
    } catch (err) {
      if (kubeStatusCode(err) !== 404) throw kubeError(err, `deleting Job ${name}`);
      return false;
    }
  }

  private async deleteSecret(job: string): Promise<void> {
    const name = tokenSecretName(job);
    try {
      await this.core.deleteNamespacedSecret({ name, namespace: this.o.template.namespace });
    } catch (err) {
      if (kubeStatusCode(err) !== 404) throw kubeError(err, `deleting Secret ${name}`);
    }
  }

  /** Starts the informer on first use; waits for its initial list. A failed start leaves GETs as the fallback. */
  private async ensureWatch(): Promise<void> {
    if (this.watchState === "idle") this.watchStart = this.startWatch();
    if (this.watchState === "starting") await this.watchStart;
  }

  private async startWatch(): Promise<void> {
    this.watchState = "starting";
    const namespace = this.o.template.namespace;
    let informer = this.informer;
    if (!informer) {
      informer = makeInformer<V1Job>(
        this.o.kubeConfig,
        `/apis/batch/v1/namespaces/${namespace}/jobs`,
        () => this.batch.listNamespacedJob({ namespace, labelSelector: this.selector }),
        this.selector,
      );
      informer.on("delete", (job) => {
        if (job.metadata?.name) this.deleted.delete(job.metadata.name);
      });
      // The informer stops itself on an error (other than an expired resourceVersion, after
      // which it re-lists): restart it with a backoff; meanwhile status() and list() ask the
      // API server directly.
      informer.on("error", (err?: unknown) => {
        if (this.watchState === "closed") return;
        this.watchState = "broken";
        this.o.onWatchError(err instanceof Error ? err : new Error(String(err)));
        this.watchBackoff = (this.watchBackoff ?? this.watchBackoffs).next(undefined);
        this.retryTimer = setTimeout(() => {
          if (this.watchState !== "broken") return;
          this.watchStart = this.startWatch();
        }, this.watchBackoff.duration);
        this.retryTimer.unref();
      });
      this.informer = informer;
    }
    try {
      await informer.start();
    } catch (err) {
      this.watchState = "broken";
      this.o.onWatchError(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    // start() resolves after the initial list and the watch request, or after reporting an
    // error (which set the state to broken).
    if (this.watchState === "starting") {
      this.watchState = "synced";
      this.watchBackoff = undefined;
      // Tombstones of Jobs whose DELETED event a broken watch never delivered.
      for (const name of this.deleted) if (!informer.get(name, namespace)) this.deleted.delete(name);
    }
  }
}
