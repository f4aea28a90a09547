import type { ExecutorHandle, Loop } from "./loop.ts";

/**
 * The Executor port: how a scheduler starts and watches replicas. Implemented by the local
 * process executor (one machine) and the Kubernetes Job executor (a cluster).
 */
export type ReplicaPhase = "pending" | "running" | "succeeded" | "failed" | "unknown";

export interface ReplicaStatus {
  phase: ReplicaPhase;
  /** Exit code when the executor knows it. */
  exitCode?: number;
  message?: string;
}

export interface ReplicaLaunch {
  loop: Loop;
  attempt: number;
  /** The loop- and attempt-scoped token the replica uses to call the API. */
  token: string;
}

export interface ListedReplica {
  handle: ExecutorHandle;
  loopId: string;
  attempt: number;
  status: ReplicaStatus;
}

export interface Executor {
  readonly kind: string;
  /**
   * Which replicas this executor can see: two executors with the same instance see the same
   * replicas (the same state dir on one host, the same Kubernetes namespace). Start stamps it on
   * every handle.
   */
  readonly instance: string;
  start(launch: ReplicaLaunch): Promise<ExecutorHandle>;
  status(handle: ExecutorHandle): Promise<ReplicaStatus>;
  /** Stops the replica and everything it started; stopping a stopped replica is not an error. */
  stop(handle: ExecutorHandle): Promise<void>;
  list(): Promise<ListedReplica[]>;
}

/** What an executor knows of one replica's process, for `loops.runtime`. */
export interface ReplicaRuntime {
  phase: ReplicaPhase;
  exitCode?: number;
  message?: string;
  /** The machine (local: the host name) or Kubernetes node it runs on. */
  node?: string;
  /** The local process id. */
  pid?: number;
  /** Kubernetes: the replica's Pod and its IP. */
  pod?: string;
  podIp?: string;
  /** Why the replica's container ended or waits (Kubernetes: `Error`, `OOMKilled`, `ImagePullBackOff`, ...). */
  reason?: string;
  startedAt?: string;
}

/**
 * Access to the replicas of one executor instance, for the API (`loops.runtime`,
 * `loops.replicaLog`, `loops.exec`): an API process that shares a local executor's state dir
 * (LocalReplicaInspector), or can reach the namespace of a Kubernetes one
 * (KubernetesReplicaInspector), serves what it can see; other handles are not its to read.
 */
export interface ReplicaInspector {
  readonly kind: string;
  readonly instance: string;
  inspect(handle: ExecutorHandle): Promise<ReplicaRuntime | undefined>;
  /** The end of the replica's own log (stdout and stderr), at most `maxBytes`. */
  readLog(handle: ExecutorHandle, maxBytes: number): Promise<{ text: string; truncated: boolean; bytes: number }>;
  /** Runs a command (no shell) in the replica's workspace; absent where the executor cannot. */
  exec?(handle: ExecutorHandle, command: readonly string[], options: ExecOptions): Promise<ExecResult>;
}

export interface ExecOptions {
  timeoutMs: number;
  /** Of stdout and of stderr, each; the rest is cut. */
  maxOutputBytes: number;
}

export interface ExecResult {
  /** Null when the command was killed (its timeout) or could not start. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
}
