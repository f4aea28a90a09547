// Everything in @smith/testing that works without the vitest runner, for scripts such as
// benchmarks: importing the fixtures calls test.extend(), which throws outside a vitest run.
export {
  type EtcdServer,
  EtcdStartError,
  type ResolvedStartEtcdOptions,
  type StartEtcdOptions,
  findEtcdBinary,
  isEtcdHealthy,
  resolveStartEtcdOptions,
  startEtcd,
} from "./etcd.ts";
export { gatewayGet, gatewayPut } from "./etcdGateway.ts";
export { etcdMetric } from "./etcdMetrics.ts";
export { runOnExit } from "./exitCleanup.ts";
export { testPrefix } from "./keyPrefix.ts";
export { freePort, freePortPair, freePorts } from "./ports.ts";
export { type TcpProxy, type TcpProxyTarget, startTcpProxy } from "./tcpProxy.ts";
export { type TempDir, tempDir } from "./tempDir.ts";
export * from "./github/index.ts";
// The one-node cluster and the chart on it (no vitest fixtures in these), for the cluster benchmark.
export { type Cluster, ensureCluster } from "./kube/cluster.ts";
export { type HelmResult, helm } from "./kube/helm.ts";
export * from "./kube/release.ts";
