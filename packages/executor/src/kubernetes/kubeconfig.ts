import { KubeConfig } from "@kubernetes/client-node";

/** Where the scheduler finds the Kubernetes API. Apps decide (from their env); this library reads no environment. */
export type KubeConfigSource =
  | {
      /** The Pod's own ServiceAccount: `https://<host>:<port>`, CA and (rotating) token from the mounted account. */
      type: "in-cluster";
      /** KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT of the Pod. */
      host: string;
      port: string;
      /** Default `/var/run/secrets/kubernetes.io/serviceaccount`. */
      serviceAccountDir?: string;
    }
  | {
      /** A kubeconfig file (KUBECONFIG), with an optional context (default: its current context). */
      type: "file";
      path: string;
      context?: string;
    };

export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const kc = new KubeConfig();
  if (source.type === "file") {
    kc.loadFromFile(source.path);
    if (source.context) kc.setCurrentContext(source.context);
    return kc;
  }
  const dir = source.serviceAccountDir ?? "/var/run/secrets/kubernetes.io/serviceaccount";
  const host = source.host.includes(":") && !source.host.startsWith("[") ? `[${source.host}]` : source.host;
  kc.loadFromOptions({
    clusters: [
      { name: "in-cluster", server: `https://${host}:${source.port}`, caFile: `${dir}/ca.crt`, skipTLSVerify: false },
    ],
    // The tokenFile provider re-reads the projected token, which the kubelet rotates.
    users: [{ name: "in-cluster", authProvider: { name: "tokenFile", config: { tokenFile: `${dir}/token` } } }],
    contexts: [{ name: "in-cluster", cluster: "in-cluster", user: "in-cluster" }],
    currentContext: "in-cluster",
  });
  return kc;
}
