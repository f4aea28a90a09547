export {
  KubernetesJobExecutor,
  type KubernetesJobExecutorOptions,
  type ResolvedKubernetesJobExecutorOptions,
  resolveKubernetesJobExecutorOptions,
} from "./executor.ts";
export { KubernetesReplicaInspector, type KubernetesReplicaInspectorOptions } from "./inspector.ts";
export { type KubeConfigSource, loadKubeConfig } from "./kubeconfig.ts";
export {
  HOME_DIR,
  LABEL_ATTEMPT,
  LABEL_COMPONENT,
  LABEL_LOOP_ID,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  type OwnerJob,
  REPLICA_CONTAINER,
  type ReplicaManifestInput,
  type ReplicaTemplate,
  TOKEN_KEY,
  WORK_DIR,
  WORKSPACE_DIR,
  buildJob,
  buildTokenSecret,
  jobName,
  labelSelector,
  selectorLabels,
  tokenSecretName,
} from "./manifests.ts";
export { jobOwner, replicaStatusFromJob } from "./status.ts";
export {
  ANNOTATION_CREDENTIAL_VERSION,
  CREDENTIAL_VALUE_KEY,
  type CredentialSecret,
  KubernetesCredentialSecrets,
  type KubernetesCredentialSecretsOptions,
  LABEL_CREDENTIAL,
  credentialSecretName,
} from "./secrets.ts";
