import { CoreV1Api, Exec, type KubeConfig, type V1Pod, type V1Status } from "@kubernetes/client-node";
import {
  SmithError,
  type ExecOptions,
  type ExecResult,
  type ExecutorHandle,
  type ReplicaInspector,
  type ReplicaPhase,
  type ReplicaRuntime,
} from "@smith/core";
import { Writable } from "node:stream";
import { kubeError, kubeStatusCode } from "./errors.ts";
import {
  HOME_DIR,
  LABEL_ATTEMPT,
  LABEL_LOOP_ID,
  REPLICA_CONTAINER,
  jobName,
  labelSelector,
  selectorLabels,
} from "./manifests.ts";

export interface KubernetesReplicaInspectorOptions {
  kubeConfig: KubeConfig;
  /** The namespace of the replica Jobs: the same as the KubernetesJobExecutor's (its instance is `kubernetes/<namespace>`). */
  namespace: string;
  /** The executor's extra labels (SMITH_REPLICA_LABELS), part of its selector. Default none. */
  labels?: Record<string, string>;
  /** Whether `exec` is offered (pods/exec create granted). Default true. */
  exec?: boolean;
}

/** The PATH of commands run by exec: the replica image's usual directories. */
const EXEC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** How long after the call's timeout `timeout -s KILL` kills the command in the container. */
const KILL_GRACE_MS = 1000;
/** A log read fetches at most this many times maxBytes (the window of lines is then narrowed). */
const LOG_FETCH_FACTOR = 4;
/** The most one log read fetches when the last lines are longer than that (a single long line). */
const LOG_MAX_FETCH = 64 * 1024 * 1024;

const POD_PHASES: Record<string, ReplicaPhase> = {
  Pending: "pending",
  Running: "running",
  Succeeded: "succeeded",
  Failed: "failed",
};

/** The grant a 403 is missing, for the error message. */
const GRANTS = {
  list: "list on pods",
  log: "get on pods/log",
  exec: "get and create on pods/exec",
} as const;

/**
 * Reads the replica Pods of a KubernetesJobExecutor's namespace for the API (`loops.runtime`,
 * `loops.replicaLog`, `loops.exec`) without starting or stopping any. A replica is the Pod the Job
 * controller made for its Job, found by the labels the executor puts on it (loop id, attempt and
 * the executor's selector labels). Needs, in that namespace only: get/list on pods, get on
 * pods/log, and get and create on pods/exec for exec (a websocket upgrade needs both).
 */
export class KubernetesReplicaInspector implements ReplicaInspector {
  readonly kind = "kubernetes";
  readonly namespace: string;
  private readonly core: CoreV1Api;
  private readonly kubeConfig: KubeConfig;
  private readonly labels: Record<string, string>;

  constructor(options: KubernetesReplicaInspectorOptions) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(options.namespace))
      throw new SmithError("invalid_argument", `namespace: "${options.namespace}" is not a namespace name`, {
        field: "namespace",
      });
    this.namespace = options.namespace;
    this.kubeConfig = options.kubeConfig;
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.labels = options.labels ?? {};
    if (options.exec !== false) this.exec = (handle, command, opts) => this.runExec(handle, command, opts);
  }

  /** Absent when exec is not offered (`exec: false`): the API then answers NOT_IMPLEMENTED. */
  readonly exec?: (handle: ExecutorHandle, command: readonly string[], options: ExecOptions) => Promise<ExecResult>;

  /** The same as the KubernetesJobExecutor of this namespace. */
  get instance(): string {
    return `kubernetes/${this.namespace}`;
  }

  private owns(handle: ExecutorHandle): boolean {
    return handle.kind === this.kind && (handle.instance === undefined || handle.instance === this.instance);
  }

  /** The label selector of the handle's Pods: `smith-<loop>-<attempt>` read back into its loop and attempt. */
  private selector(handle: ExecutorHandle): string {
    const m = /^smith-([0-9a-z]{26})-(\d{1,9})$/.exec(handle.id);
    const loopId = m?.[1];
    const attempt = Number(m?.[2]);
    if (!loopId || jobName(loopId, attempt) !== handle.id)
      throw new SmithError("invalid_argument", `not a Kubernetes replica handle: ${handle.id}`, { field: "handle.id" });
    return labelSelector({
      ...selectorLabels({ labels: this.labels }),
      [LABEL_LOOP_ID]: loopId,
      [LABEL_ATTEMPT]: String(attempt),
    });
  }

  /** The handle's Pod: the newest one not being deleted, else the newest. */
  private async pod(handle: ExecutorHandle): Promise<V1Pod | undefined> {
    const labelSelector = this.selector(handle);
    const pods = await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector }).catch((err) => {
      throw this.error(err, `listing the Pods of Job ${handle.id}`, GRANTS.list);
    });
    const time = (p: V1Pod) => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
    const sorted = [...pods.items].sort((a, b) => time(b) - time(a));
    return sorted.find((p) => !p.metadata?.deletionTimestamp) ?? sorted[0];
  }

  private async podOrThrow(handle: ExecutorHandle): Promise<V1Pod & { metadata: { name: string } }> {
    if (!this.owns(handle))
      throw new SmithError("not_found", `replica ${handle.id} is not in Kubernetes namespace ${this.namespace}`, {
        field: "handle",
      });
    const pod = await this.pod(handle);
    const name = pod?.metadata?.name;
    if (!pod || !name)
      throw new SmithError(
        "not_found",
        `Job ${handle.id} has no Pod in namespace ${this.namespace} (not created yet, or deleted with its Job): ` +
          `kubectl get pods -n ${this.namespace} -l ${this.selector(handle)}`,
        { field: "handle" },
      );
    return pod as V1Pod & { metadata: { name: string } };
  }

  async inspect(handle: ExecutorHandle): Promise<ReplicaRuntime | undefined> {
    if (!this.owns(handle)) return undefined;
    const pod = await this.pod(handle);
    if (!pod)
      return {
        phase: "unknown",
        message: `Job ${handle.id} has no Pod (not created yet, or deleted with its Job)`,
      };
    const status = pod.status ?? {};
    const container = status.containerStatuses?.find((c) => c.name === REPLICA_CONTAINER);
    const terminated = container?.state?.terminated;
    const waiting = container?.state?.waiting;
    const out: ReplicaRuntime = {
      phase: POD_PHASES[status.phase ?? ""] ?? "unknown",
      ...(pod.metadata?.name ? { pod: pod.metadata.name } : {}),
      ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
      ...(status.podIP ? { podIp: status.podIP } : {}),
      ...(status.startTime ? { startedAt: new Date(status.startTime).toISOString() } : {}),
    };
    if (terminated) {
      out.exitCode = terminated.exitCode;
      if (terminated.reason) out.reason = terminated.reason;
      if (terminated.message) out.message = terminated.message.slice(0, 1024);
    } else if (waiting?.reason) {
      out.reason = waiting.reason;
      if (waiting.message) out.message = waiting.message.slice(0, 1024);
    } else if (status.reason) {
      // The Pod's own reason: Evicted, DeadlineExceeded, ...
      out.reason = status.reason;
      if (status.message) out.message = status.message.slice(0, 1024);
    }
    if (pod.metadata?.deletionTimestamp && !out.message) out.message = "the Pod is being deleted";
    return out;
  }

  /**
   * The end of the replica container's log (pods/log), at most `maxBytes`. Kubernetes cuts a log
   * from its start (`limitBytes`) or by lines (`tailLines`): the last `maxBytes` bytes lie within the
   * last `maxBytes` lines, so those are fetched (at most LOG_FETCH_FACTOR × maxBytes; when that is
   * not enough, again with fewer lines, from their average length) and the end kept. When the last
   * lines are long (fewer lines are then less than maxBytes), one line more is read whole, up to
   * LOG_MAX_FETCH (TOO_LARGE beyond). `bytes` is what was fetched: the API server does not say how
   * long the whole log is.
   */
  async readLog(
    handle: ExecutorHandle,
    maxBytes: number,
  ): Promise<{ text: string; truncated: boolean; bytes: number }> {
    const pod = await this.podOrThrow(handle);
    const name = pod.metadata.name;
    // The API server answers an empty 200 for a Pod with no node yet (as `kubectl logs` shows):
    // there is no log before a kubelet runs the container.
    if (!pod.spec?.nodeName) return { text: "", truncated: false, bytes: 0 };
    const kubectl = `kubectl logs -n ${this.namespace} ${name}`;
    const fetch = async (tailLines: number, limitBytes: number): Promise<Buffer> => {
      const text = await this.core
        .readNamespacedPodLog({ name, namespace: this.namespace, container: REPLICA_CONTAINER, tailLines, limitBytes })
        .catch((err: unknown) => {
          // client-node cannot parse an empty answer without a Content-Type: an empty log.
          if (err instanceof Error && /No Content-Type defined/.test(err.message)) return "";
          throw this.error(err, `reading the log of Pod ${name}`, GRANTS.log, kubectl, pod.spec?.nodeName);
        });
      return Buffer.from(text, "utf8");
    };
    const end = (buf: Buffer, earlier: boolean) => ({
      text: (buf.length > maxBytes ? buf.subarray(buf.length - maxBytes) : buf).toString("utf8"),
      truncated: earlier || buf.length > maxBytes,
      bytes: buf.length,
    });
    // The last `tailLines` lines read whole, however long (at most LOG_MAX_FETCH bytes).
    const whole = async (tailLines: number) => {
      const buf = await fetch(tailLines, LOG_MAX_FETCH + 1);
      if (buf.length > LOG_MAX_FETCH)
        throw new SmithError(
          "too_large",
          `the last ${tailLines} line(s) of the log of Pod ${name} are over ${LOG_MAX_FETCH} bytes: ${kubectl} --tail=${tailLines}`,
          { field: "maxBytes", limit: LOG_MAX_FETCH },
        );
      return end(buf, true);
    };
    const cap = maxBytes * LOG_FETCH_FACTOR;
    let tailLines = maxBytes;
    for (let round = 0; round < 6; round++) {
      const buf = await fetch(tailLines, cap + 1);
      const lines = countLines(buf);
      if (buf.length <= cap) {
        // The whole log (fewer lines than asked), or enough bytes: its end. Otherwise the lines
        // were narrowed past a long one: read one line more, whole.
        if (lines < tailLines || buf.length >= maxBytes || tailLines === maxBytes) return end(buf, lines >= tailLines);
        return await whole(tailLines + 1);
      }
      if (tailLines === 1) break;
      // Too many bytes in those lines: fewer lines, from their average length (with room to spare).
      const average = Math.max(1, Math.floor(buf.length / Math.max(1, lines)));
      tailLines = Math.max(1, Math.min(tailLines - 1, Math.ceil((2 * maxBytes) / average)));
    }
    return await whole(tailLines);
  }

  /**
   * Runs `command` (argv, no shell) in the replica container through pods/exec (a websocket),
   * in the container's working directory (the workspace, `/workspace`; the clone is
   * `/workspace/repo`), under `env -i` with only PATH and HOME (no token variable, no provider
   * key: the container's environment is not passed on). stdout and stderr are each cut at
   * `maxOutputBytes`; at `timeoutMs` the websocket is closed (`timedOut`, exit code null) and, since
   * closing it does not stop the process, `timeout -s KILL` kills it (and what it started) a second
   * later. The exit code comes from the status channel. The image needs coreutils' `env` and
   * `timeout` (the replica image has them).
   */
  private async runExec(handle: ExecutorHandle, command: readonly string[], options: ExecOptions): Promise<ExecResult> {
    const pod = await this.podOrThrow(handle);
    const name = pod.metadata.name;
    const kubectl = `kubectl exec -n ${this.namespace} ${name} -c ${REPLICA_CONTAINER} -- ...`;
    if (!pod.spec?.nodeName)
      throw new SmithError(
        "invalid_transition",
        `Pod ${name} has no node yet (not scheduled): there is no container to run a command in (${kubectl} would fail the same way)`,
        { field: "id", pod: name },
      );
    const running = pod.status?.containerStatuses?.find((c) => c.name === REPLICA_CONTAINER)?.state?.running;
    if (pod.status?.phase !== "Running" || !running)
      throw new SmithError(
        "invalid_transition",
        `the replica container of Pod ${name} is not running (the Pod is ${pod.status?.phase ?? "without a phase"}): nothing to run a command in`,
        { field: "id", pod: name },
      );
    // Kubernetes has no way to kill an exec'd process: closing the stream leaves it running in the
    // container. `timeout` (coreutils) kills it a second after the call has given up on it.
    const killAfter = `${(options.timeoutMs + KILL_GRACE_MS) / 1000}s`;
    const argv = ["env", "-i", `PATH=${EXEC_PATH}`, `HOME=${HOME_DIR}`, "timeout", "-s", "KILL", killAfter, ...command];
    const started = Date.now();
    const out = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
    let truncated = false;
    const sink = (which: "stdout" | "stderr") =>
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          const room = options.maxOutputBytes - out[which].length;
          if (chunk.length > room) truncated = true;
          if (room > 0) out[which] = Buffer.concat([out[which], chunk.subarray(0, room)]);
          done();
        },
      });
    let status: V1Status | undefined;
    type Socket = { close(): void; on(event: "close", listener: () => void): unknown };
    const connecting = new Exec(this.kubeConfig)
      .exec(
        this.namespace,
        name,
        REPLICA_CONTAINER,
        argv,
        sink("stdout"),
        sink("stderr"),
        null,
        false,
        (s) => (status = s),
      )
      .then((ws) => ws as unknown as Socket);
    // The timeout covers the connection too: an API server or kubelet that does not answer.
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"expired">(
      (resolve) => (timer = setTimeout(() => resolve("expired"), options.timeoutMs)),
    );
    let socket: Socket | "expired";
    try {
      socket = await Promise.race([connecting, expired]);
    } catch (err) {
      clearTimeout(timer);
      const message = err instanceof Error ? err.message : String((err as { message?: unknown }).message ?? err);
      const code = Number(/Unexpected server response: (\d{3})/.exec(message)?.[1]) || undefined;
      throw this.error(
        Object.assign(new Error(message), { code }),
        `exec in Pod ${name}`,
        GRANTS.exec,
        kubectl,
        pod.spec.nodeName,
      );
    }
    let timedOut = socket === "expired";
    if (socket === "expired") {
      connecting.then((late) => late.close()).catch(() => undefined);
    } else {
      const open = socket;
      const done = await Promise.race([
        new Promise<"closed">((resolve) => open.on("close", () => resolve("closed"))),
        expired,
      ]);
      clearTimeout(timer);
      if (done === "expired") {
        timedOut = true;
        open.close();
      }
    }
    let exitCode: number | null = null;
    let stderr = out.stderr.toString("utf8");
    if (!timedOut && status) {
      if (status.status === "Success") exitCode = 0;
      else {
        const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
        const code = Number(cause?.message);
        if (cause && Number.isInteger(code)) exitCode = code;
        else stderr += `${stderr && !stderr.endsWith("\n") ? "\n" : ""}${status.message ?? "the command failed"}\n`;
      }
    } else if (!timedOut) {
      stderr += `${stderr && !stderr.endsWith("\n") ? "\n" : ""}the exec stream closed without an exit status\n`;
    }
    return {
      exitCode,
      stdout: out.stdout.toString("utf8"),
      stderr,
      truncated,
      timedOut,
      durationMs: Date.now() - started,
    };
  }

  /**
   * A failed call as a SmithError; a 403 names the missing grant, the rest the kubectl
   * equivalent. With `node` (pods/log and pods/exec of a Pod that exists): a 404 or 5xx is the API
   * server failing to reach that node's kubelet (it says `pods "<node>" not found` for a Node it
   * does not know), UNAVAILABLE naming the node; a 400 is a container not started yet.
   */
  private error(err: unknown, what: string, grant: string, kubectl?: string, node?: string): SmithError {
    const e = kubeError(err, what);
    const status = kubeStatusCode(err);
    let code = e.code;
    let hint = kubectl ? ` (the same as ${kubectl})` : "";
    if (status === 403) {
      hint = `: the API's ServiceAccount needs ${grant} in namespace ${this.namespace} (the chart's api.replicaAccess)`;
    } else if (node && (status === 404 || (status ?? 0) >= 500)) {
      code = "unavailable";
      hint = `: the API server could not reach the kubelet of node ${node}${hint}`;
    } else if (status === 400) {
      code = "invalid_transition";
    }
    return new SmithError(code, `${e.message}${hint}`, { ...e.details, grant }, { cause: err });
  }
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  if (buf.length > 0 && buf[buf.length - 1] !== 10) n++;
  return n;
}
