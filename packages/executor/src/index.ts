export { LocalProcessExecutor, LocalReplicaInspector, type LocalProcessExecutorOptions } from "./local.ts";
export { REPLICA_ENV_PASSTHROUGH, replicaEnv } from "./localEnv.ts";
export { DEFAULT_AGENT_USER, ensureAgentUser } from "./agentUser.ts";
// The Kubernetes manifests (pure; no client is loaded). The KubernetesJobExecutor itself is
// imported from `@smith/executor/kubernetes`: it loads @kubernetes/client-node, which would add
// about half a second to every `smith` CLI start that only needs the local executor.
export {
  type ReplicaManifestInput,
  type ReplicaTemplate,
  buildJob,
  buildTokenSecret,
  jobName,
} from "./kubernetes/manifests.ts";
