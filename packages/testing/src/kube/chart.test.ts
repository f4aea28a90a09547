import {
  AuthorizationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  loadYaml,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { kubeDescribe, kubeTest as test } from "./fixtures.ts";
import { helm, helmTemplate } from "./helm.ts";

// The chart lives outside vitest's include list (helm/smith); its tests live here, next to the harness.
const CHART = fileURLToPath(new URL("../../../../helm/smith", import.meta.url));
const PRODUCTION = `${CHART}/ci/production-values.yaml`;

const describeKube = await kubeDescribe();

/** Dotted paths of the leaves of values.yaml (a non-empty map is descended into, anything else is a leaf). */
function leafPaths(value: unknown, path: string[] = []): string[] {
  if (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length > 0 &&
    !path.at(-1)?.match(/^(requests|limits|namespaceSelector|podSecurityContext|containerSecurityContext)$/)
  ) {
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...path, k]));
  }
  return [path.join(".")];
}

describe("helm/smith docs", () => {
  it("docs/helm-values.md describes every value of values.yaml", async () => {
    const values = loadYaml<unknown>(await readFile(`${CHART}/values.yaml`, "utf8"));
    const doc = await readFile(fileURLToPath(new URL("../../../../docs/helm-values.md", import.meta.url)), "utf8");
    // A table cell holding exactly the value's path; Prettier pads the cells to the column width.
    const cells = new Set([...doc.matchAll(/\|\s*`([^`|]+)`\s*(?=\|)/g)].map((m) => m[1]));
    const missing = leafPaths(values).filter((p) => !cells.has(p));
    expect(missing).toEqual([]);
  });
});

async function createNamespace(kc: KubeConfig): Promise<string> {
  const name = `smith-chart-${randomBytes(4).toString("hex")}`;
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name, labels: { "kubernetes.io/metadata.name": name } } } });
  return name;
}

function describeObject(o: KubernetesObject): string {
  return `${o.kind ?? "?"}/${o.metadata?.name ?? "?"}`;
}

/**
 * Sends every object to the API server with dryRun=All: full validation, defaulting and
 * admission, nothing stored. Pods (the helm test hook) go last, after the ServiceAccounts they
 * run as were created for real: the ServiceAccount admission plugin looks them up.
 */
async function dryRunAll(kc: KubeConfig, objects: KubernetesObject[]): Promise<string[]> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const failures: string[] = [];
  const pods = objects.filter((o) => o.kind === "Pod");
  for (const o of objects.filter((x) => x.kind !== "Pod")) {
    await client
      .create(o, undefined, "All")
      .catch((err: unknown) => failures.push(`${describeObject(o)}: ${errorText(err)}`));
  }
  for (const sa of objects.filter((o) => o.kind === "ServiceAccount")) await client.create(sa);
  for (const o of pods) {
    await client
      .create(o, undefined, "All")
      .catch((err: unknown) => failures.push(`${describeObject(o)}: ${errorText(err)}`));
  }
  return failures;
}

function errorText(err: unknown): string {
  if (typeof err === "object" && err !== null && "body" in err) {
    const body = (err as { body: unknown }).body;
    return typeof body === "string" ? body : JSON.stringify(body);
  }
  return String(err);
}

function kinds(objects: KubernetesObject[]): string[] {
  return objects.map(describeObject).sort();
}

describeKube("helm/smith", () => {
  test("helm lint passes with the default and the production values", async () => {
    for (const args of [
      ["lint", "--strict", CHART],
      ["lint", "--strict", CHART, "--values", PRODUCTION],
    ]) {
      const result = await helm(args);
      expect(result.code, `helm ${args.join(" ")}\n${result.stdout}\n${result.stderr}`).toBe(0);
    }
  });

  test("the default rendering is accepted by the API server (server-side dry-run)", async ({ kube }) => {
    const namespace = await createNamespace(kube.kubeConfig);
    const objects = await helmTemplate(CHART, { release: "smith", namespace });
    expect(kinds(objects)).toEqual(
      [
        "ConfigMap/smith-config",
        "Deployment/smith-api",
        "Deployment/smith-scheduler",
        "NetworkPolicy/smith-api",
        "NetworkPolicy/smith-etcd",
        "NetworkPolicy/smith-replica",
        "NetworkPolicy/smith-scheduler",
        "Pod/smith-test-readyz",
        "PodDisruptionBudget/smith-api",
        "PodDisruptionBudget/smith-etcd",
        "PodDisruptionBudget/smith-scheduler",
        "Role/smith-api",
        "Role/smith-scheduler",
        "RoleBinding/smith-api",
        "RoleBinding/smith-scheduler",
        "Secret/smith-admin-token",
        "Secret/smith-credentials-key",
        "Secret/smith-providers",
        "Secret/smith-signing-key",
        "Service/smith-api",
        "Service/smith-etcd",
        "Service/smith-etcd-headless",
        "ServiceAccount/smith-api",
        "ServiceAccount/smith-replica",
        "ServiceAccount/smith-scheduler",
        "StatefulSet/smith-etcd",
      ].sort(),
    );
    expect(await dryRunAll(kube.kubeConfig, objects)).toEqual([]);
    // The dry run does validate: a broken object is refused, and nothing was stored.
    const broken = { ...objects.find((o) => o.kind === "Deployment"), spec: { replicas: -1 } } as KubernetesObject;
    expect(await dryRunAll(kube.kubeConfig, [broken])).toEqual([
      expect.stringMatching(/Deployment\/smith-api: .*Invalid/),
    ]);
    await expect(
      kube.kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: "smith-config", namespace }),
    ).rejects.toMatchObject({ code: 404 });

    // credentials.backend defaults to kubernetes: the API keeps credential Secrets in its namespace.
    const api = objects.find((o) => o.kind === "Deployment" && o.metadata?.name === "smith-api") as
      | { spec: { template: { spec: { automountServiceAccountToken: boolean; containers: { env: object[] }[] } } } }
      | undefined;
    expect(api?.spec.template.spec.automountServiceAccountToken).toBe(true);
    expect(api?.spec.template.spec.containers[0]?.env).toEqual(
      expect.arrayContaining([
        { name: "SMITH_CREDENTIALS_BACKEND", value: "kubernetes" },
        { name: "SMITH_CREDENTIALS_NAMESPACE", value: namespace },
      ]),
    );
    // With credentials.backend etcd the API has no Role and no Kubernetes token.
    const etcdBackend = await helmTemplate(CHART, {
      release: "smith",
      namespace,
      set: { "credentials.backend": "etcd" },
    });
    expect(kinds(etcdBackend).filter((k) => k.includes("smith-api") && k.startsWith("Role"))).toEqual([]);
    const etcdApi = etcdBackend.find((o) => o.kind === "Deployment" && o.metadata?.name === "smith-api") as typeof api;
    expect(etcdApi?.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(JSON.stringify(etcdApi)).not.toContain("SMITH_CREDENTIALS_BACKEND");

    const scheduler = objects.find((o) => o.kind === "Deployment" && o.metadata?.name === "smith-scheduler") as
      { spec: { replicas: number } } | undefined;
    expect(scheduler?.spec.replicas).toBe(2);
    const config = objects.find((o) => o.kind === "ConfigMap") as { data: Record<string, string> } | undefined;
    expect(config?.data).toMatchObject({
      SMITH_EXECUTOR: "kubernetes",
      SMITH_API_URL: `http://smith-api.${namespace}.svc:7070`,
      SMITH_REPLICA_SERVICE_ACCOUNT: "smith-replica",
      SMITH_PROVIDER_SECRET: "smith-providers",
      SMITH_REPLICA_LABELS: "app.kubernetes.io/instance=smith",
      SMITH_ETCD_ENDPOINTS: [0, 1, 2]
        .map((i) => `http://smith-etcd-${i}.smith-etcd-headless.${namespace}.svc:2379`)
        .join(","),
    });
  });

  test("the production values render objects the API server accepts", async ({ kube }) => {
    const namespace = await createNamespace(kube.kubeConfig);
    const objects = await helmTemplate(CHART, { release: "prod", namespace, valuesFiles: [PRODUCTION] });
    // Secrets come from existingSecret: the chart creates none.
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    expect(await dryRunAll(kube.kubeConfig, objects)).toEqual([]);
    const role = (name: string) =>
      objects.find((o) => o.kind === "Role" && o.metadata?.name === name) as
        { rules: { resources: string[]; verbs: string[] }[] } | undefined;
    expect(role("smith-scheduler")?.rules.flatMap((r) => r.resources)).toContain("pods/exec");
    expect(role("smith-api")?.rules).toEqual([
      { apiGroups: [""], resources: ["secrets"], verbs: ["get", "create", "update", "delete"] },
    ]);
  });

  test("values are checked: the schema and the chart's own rules refuse bad values", async () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ "api.replicas": "0" }, /api\.replicas|replicas/],
      [{ "etcd.replicas": "2" }, /etcd/],
      [{ "etcd.enabled": "false" }, /externalEtcd\.endpoints/],
      [{ "secrets.signingKey.value": "short" }, /at least 32/],
      [{ "scheduler.concurrencyKeys": "a=0" }, /concurrencyKeys/],
      [{ "no.such.value": "1" }, /additional properties|not allowed/i],
      [{ "credentials.backend": "vault" }, /credentials\.backend|must be one of/],
    ];
    for (const [set, error] of bad) {
      await expect(helmTemplate(CHART, { set }), JSON.stringify(set)).rejects.toThrow(error);
    }
  });

  test("RBAC: the scheduler may do what the Job executor needs, the API its credential Secrets, and no more; the replica may do nothing", async ({
    kube,
  }) => {
    const namespace = await createNamespace(kube.kubeConfig);
    const objects = await helmTemplate(CHART, { release: "smith", namespace });
    const client = KubernetesObjectApi.makeApiClient(kube.kubeConfig);
    for (const o of objects.filter((x) => x.kind === "ServiceAccount" || x.kind === "Role" || x.kind === "RoleBinding"))
      await client.create(o);
    // The Role is really bound (not just valid).
    expect(
      (
        await kube.kubeConfig
          .makeApiClient(RbacAuthorizationV1Api)
          .readNamespacedRoleBinding({ name: "smith-scheduler", namespace })
      ).subjects,
    ).toEqual([{ kind: "ServiceAccount", name: "smith-scheduler", namespace }]);

    const authz = kube.kubeConfig.makeApiClient(AuthorizationV1Api);
    const can = async (
      sa: string,
      verb: string,
      resource: string,
      group = "",
      subresource?: string,
      ns = namespace,
    ): Promise<boolean> => {
      const review = await authz.createSubjectAccessReview({
        body: {
          spec: {
            user: `system:serviceaccount:${namespace}:${sa}`,
            groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`],
            resourceAttributes: { namespace: ns, verb, group, resource, subresource },
          },
        },
      });
      return review.status?.allowed === true;
    };
    for (const verb of ["create", "get", "list", "watch", "delete"])
      expect(await can("smith-scheduler", verb, "jobs", "batch"), `jobs ${verb}`).toBe(true);
    for (const verb of ["get", "list", "watch"])
      expect(await can("smith-scheduler", verb, "pods"), `pods ${verb}`).toBe(true);
    expect(await can("smith-scheduler", "get", "pods", "", "log")).toBe(true);
    for (const verb of ["create", "delete"])
      expect(await can("smith-scheduler", verb, "secrets"), `secrets ${verb}`).toBe(true);

    const denied: [string, string, string, string?][] = [
      ["get", "secrets", ""],
      ["list", "secrets", ""],
      ["update", "jobs", "batch"],
      ["patch", "jobs", "batch"],
      ["update", "jobs", "batch", "status"],
      ["create", "pods", ""],
      ["delete", "pods", ""],
      ["create", "pods", "", "exec"],
      ["create", "roles", "rbac.authorization.k8s.io"],
      ["get", "configmaps", ""],
    ];
    for (const [verb, resource, group, sub] of denied)
      expect(
        await can("smith-scheduler", verb, resource, group, sub),
        `${verb} ${resource}${sub ? `/${sub}` : ""}`,
      ).toBe(false);
    // Nothing outside the release namespace.
    expect(await can("smith-scheduler", "create", "jobs", "batch", undefined, "default")).toBe(false);

    // The API: credential Secrets in its namespace, nothing else.
    for (const verb of ["get", "create", "update", "delete"])
      expect(await can("smith-api", verb, "secrets"), `api secrets ${verb}`).toBe(true);
    for (const [verb, resource, group] of [
      ["list", "secrets", ""],
      ["watch", "secrets", ""],
      ["patch", "secrets", ""],
      ["get", "configmaps", ""],
      ["create", "jobs", "batch"],
      ["get", "pods", ""],
    ] as const)
      expect(await can("smith-api", verb, resource, group), `api ${verb} ${resource}`).toBe(false);
    expect(await can("smith-api", "get", "secrets", "", undefined, "default")).toBe(false);

    for (const [verb, resource, group] of [
      ["get", "jobs", "batch"],
      ["list", "pods", ""],
      ["get", "secrets", ""],
      ["create", "jobs", "batch"],
    ] as const) {
      expect(await can("smith-replica", verb, resource, group), `replica ${verb} ${resource}`).toBe(false);
    }
    expect(objects.find((o) => o.kind === "ServiceAccount" && o.metadata?.name === "smith-replica")).toMatchObject({
      automountServiceAccountToken: false,
    });
  });
});
