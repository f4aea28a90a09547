import { CoreV1Api } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { describe } from "vitest";
import { etcdTest } from "../fixtures.ts";
import { type StartKubeApiserverOptions, startKubeApiserver } from "./apiserver.ts";
import { ensureKubeTools } from "./tools.ts";

/**
 * `describe`, or, where kube-apiserver cannot be built (no Go), `describe.skip` with the reason
 * and how to run the tests in the title:
 *
 *   const describeKube = await kubeDescribe();
 *   describeKube("KubernetesJobExecutor", () => { ... });
 */
export async function kubeDescribe(): Promise<typeof describe> {
  const tools = await ensureKubeTools();
  if (tools.available) return describe;
  process.stderr.write(`${tools.reason}\n`);
  const skip = ((name: string, fn?: () => void) =>
    describe.skip(`${name} — ${tools.reason}`, fn ?? (() => undefined))) as unknown as typeof describe;
  return skip;
}

/**
 * Fixtures for tests against a real kube-apiserver (and etcd, from `etcdTest`):
 * - `kubeOptions` (file scope): options of the apiserver; override with `kubeTest.override`.
 * - `kube` (file scope): one `KubeApiserver` (with its own etcd) per file, stopped after it.
 * - `namespace` (per test): a fresh namespace, created before the test. Nothing deletes
 *   namespaces here (no namespace controller runs), so each test gets its own.
 */
export const kubeTest = etcdTest
  .extend<"kubeOptions", StartKubeApiserverOptions>("kubeOptions", { scope: "file" }, {})
  .extend("kube", { scope: "file" }, async ({ kubeOptions }, { onCleanup }) => {
    const kube = await startKubeApiserver(kubeOptions);
    onCleanup(() => kube.stop());
    return kube;
  })
  .extend("namespace", async ({ kube }) => {
    const name = `smith-test-${randomBytes(4).toString("hex")}`;
    await kube.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
    return name;
  });
