// @smith/testing/kube: a real kube-apiserver (built from Go module sources, cached in
// ~/.cache/smith/k8s) and helm, for the Kubernetes executor and Helm chart tests.
export {
  type KubeApiserver,
  KubeApiserverStartError,
  type StartKubeApiserverOptions,
  startKubeApiserver,
} from "./apiserver.ts";
export { type Cluster, ensureCluster } from "./cluster.ts";
export { kubeDescribe, kubeTest } from "./fixtures.ts";
export { type HelmResult, type HelmTemplateOptions, helm, helmTemplate } from "./helm.ts";
export * from "./release.ts";
export { K8S_SCRIPT, type KubeTools, ensureKubeTools } from "./tools.ts";
export { type JobOutcome, type SetJobStatusOptions, setJobStatus } from "./jobs.ts";
