import { type KubernetesObject, loadAllYaml } from "@kubernetes/client-node";
import { spawn } from "node:child_process";
import { ensureKubeTools } from "./tools.ts";

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the helm binary built by `ensureKubeTools()` (v3, from its Go module) with `args`. */
export async function helm(
  args: readonly string[],
  options: { env?: Record<string, string> } = {},
): Promise<HelmResult> {
  const tools = await ensureKubeTools();
  if (!tools.available) throw new Error(tools.reason);
  const binary = tools.helm;
  return new Promise((resolve, reject) => {
    // A private HOME/XDG dirs: no repositories, plugins or kube contexts of the developer's.
    const child = spawn(binary, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: "/nonexistent",
        HELM_CACHE_HOME: "/tmp/smith-helm/cache",
        HELM_CONFIG_HOME: "/tmp/smith-helm/config",
        HELM_DATA_HOME: "/tmp/smith-helm/data",
        ...options.env,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

export interface HelmTemplateOptions {
  release?: string;
  namespace?: string;
  /** Values files, in order. */
  valuesFiles?: readonly string[];
  /** `--set` pairs. */
  set?: Record<string, string>;
  /** Render hooks (e.g. the `helm test` Pod) too. Default true. */
  includeHooks?: boolean;
}

/** `helm template` of a chart directory, parsed into objects (empty documents dropped); throws with helm's stderr on failure. */
export async function helmTemplate(chartDir: string, options: HelmTemplateOptions = {}): Promise<KubernetesObject[]> {
  const args = ["template", options.release ?? "smith", chartDir, "--namespace", options.namespace ?? "default"];
  for (const file of options.valuesFiles ?? []) args.push("--values", file);
  for (const [k, v] of Object.entries(options.set ?? {})) args.push("--set", `${k}=${v}`);
  if (options.includeHooks === false) args.push("--no-hooks");
  const result = await helm(args);
  if (result.code !== 0) throw new Error(`helm ${args.join(" ")} failed (exit ${result.code}):\n${result.stderr}`);
  return (loadAllYaml(result.stdout) as unknown[]).filter(
    (d): d is KubernetesObject => typeof d === "object" && d !== null && "kind" in d,
  );
}
