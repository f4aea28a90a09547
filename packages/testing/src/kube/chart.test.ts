import {
  AuthorizationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  loadYaml,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { spawn } from "node:child_process";
import { X509Certificate, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkServerIdentity } from "node:tls";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { kubeDescribe, kubeTest as test } from "./fixtures.ts";
import { findEtcdBinary } from "../etcd.ts";
import { freePorts } from "../ports.ts";
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
        "Secret/smith-etcd-client",
        "Secret/smith-etcd-server",
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
        // api.replicaAccess defaults to exec: the API reads and enters the replica Pods of its namespace.
        { name: "SMITH_REPLICA_ACCESS", value: "exec" },
        { name: "SMITH_K8S_NAMESPACE", value: namespace },
      ]),
    );
    // With credentials.backend etcd, the API's Role holds only the replica grants.
    const etcdBackend = await helmTemplate(CHART, {
      release: "smith",
      namespace,
      set: { "credentials.backend": "etcd" },
    });
    const apiRole = (list: KubernetesObject[]) =>
      list.find((o) => o.kind === "Role" && o.metadata?.name === "smith-api") as
        { rules: { resources: string[]; verbs: string[] }[] } | undefined;
    expect(apiRole(etcdBackend)?.rules.map((r) => [r.resources, r.verbs])).toEqual([
      [["pods"], ["get", "list"]],
      [["pods/log"], ["get"]],
      [["pods/exec"], ["get", "create"]],
    ]);
    const etcdApi = etcdBackend.find((o) => o.kind === "Deployment" && o.metadata?.name === "smith-api") as typeof api;
    expect(etcdApi?.spec.template.spec.automountServiceAccountToken).toBe(true);
    expect(JSON.stringify(etcdApi)).not.toContain("SMITH_CREDENTIALS_BACKEND");
    // read: no pods/exec; with replicaAccess none and the etcd backend, no Role and no Kubernetes token.
    const readOnly = await helmTemplate(CHART, { release: "smith", namespace, set: { "api.replicaAccess": "read" } });
    expect(apiRole(readOnly)?.rules.flatMap((r) => r.resources)).toEqual(["secrets", "pods", "pods/log"]);
    const noAccess = await helmTemplate(CHART, {
      release: "smith",
      namespace,
      set: { "credentials.backend": "etcd", "api.replicaAccess": "none" },
    });
    expect(kinds(noAccess).filter((k) => k.includes("smith-api") && k.startsWith("Role"))).toEqual([]);
    const noAccessApi = noAccess.find((o) => o.kind === "Deployment" && o.metadata?.name === "smith-api") as typeof api;
    expect(noAccessApi?.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(noAccessApi?.spec.template.spec.containers[0]?.env).toEqual(
      expect.arrayContaining([{ name: "SMITH_REPLICA_ACCESS", value: "none" }]),
    );
    expect(JSON.stringify(noAccessApi)).not.toContain("SMITH_K8S_NAMESPACE");

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
        .map((i) => `https://smith-etcd-${i}.smith-etcd-headless.${namespace}.svc:2379`)
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
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
      { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
      { apiGroups: [""], resources: ["pods/exec"], verbs: ["get", "create"] },
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
      [{ "api.replicaAccess": "write" }, /replicaAccess|must be one of/],
      [{ "etcd.enabled": "false", "externalEtcd.endpoints": "{http://e:2379}" }, /externalEtcd\.allowPlainHttp/],
      [
        {
          "etcd.enabled": "false",
          "externalEtcd.endpoints": "{http://e:2379}",
          "externalEtcd.tls.existingSecret": "ext",
        },
        /use https:\/\/ endpoints/,
      ],
      [
        { "etcd.tls.existingServerSecret": "mine" },
        /existingServerSecret and etcd\.tls\.existingClientSecret go together/,
      ],
      [{ "etcd.tls.validityDays": "0" }, /validityDays/],
    ];
    for (const [set, error] of bad) {
      await expect(helmTemplate(CHART, { set }), JSON.stringify(set)).rejects.toThrow(error);
    }
  });

  test("RBAC: the scheduler may do what the Job executor needs, the API its credential Secrets and the replica Pods' state, log and exec, and no more; the replica may do nothing", async ({
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

    // The API: credential Secrets and replica Pods (read, log, exec) in its namespace, nothing else.
    for (const verb of ["get", "create", "update", "delete"])
      expect(await can("smith-api", verb, "secrets"), `api secrets ${verb}`).toBe(true);
    for (const [verb, sub] of [
      ["get", undefined],
      ["list", undefined],
      ["get", "log"],
      ["get", "exec"],
      ["create", "exec"],
    ] as const)
      expect(await can("smith-api", verb, "pods", "", sub), `api ${verb} pods${sub ? `/${sub}` : ""}`).toBe(true);
    for (const [verb, resource, group, sub] of [
      ["list", "secrets", ""],
      ["watch", "secrets", ""],
      ["patch", "secrets", ""],
      ["get", "configmaps", ""],
      ["create", "jobs", "batch"],
      ["watch", "pods", ""],
      ["create", "pods", ""],
      ["delete", "pods", ""],
      ["update", "pods", ""],
      ["create", "pods", "", "attach"],
      ["create", "pods", "", "portforward"],
      ["update", "pods", "", "status"],
    ] as const)
      expect(await can("smith-api", verb, resource, group, sub), `api ${verb} ${resource}${sub ? `/${sub}` : ""}`).toBe(
        false,
      );
    expect(await can("smith-api", "get", "secrets", "", undefined, "default")).toBe(false);
    expect(await can("smith-api", "list", "pods", "", undefined, "default")).toBe(false);
    expect(await can("smith-api", "create", "pods", "", "exec", "default")).toBe(false);

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

  test("etcd TLS: the chart's etcd serves clients and peers over TLS with client certificates it makes once (kept on upgrade); only the API and schedulers get the client certificate; a real etcd with them accepts it and refuses the rest; external and plain forms", async ({
    kube,
  }) => {
    const namespace = await createNamespace(kube.kubeConfig);
    const kubeconfig = await kube.writeKubeconfig();
    const core = kube.kubeConfig.makeApiClient(CoreV1Api);
    const install = await helm(["install", "smith", CHART, "--namespace", namespace, "--kubeconfig", kubeconfig]);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain("(client certificate: Secret smith-etcd-client)");
    expect(install.stdout).not.toContain("plain HTTP");
    const secretData = async (name: string) => (await core.readNamespacedSecret({ name, namespace })).data ?? {};
    const server = await secretData("smith-etcd-server");
    const client = await secretData("smith-etcd-client");
    const pem = (b64: string | undefined) => Buffer.from(b64 ?? "", "base64").toString("utf8");
    expect(server["ca.crt"]).toBe(client["ca.crt"]);
    const ca = new X509Certificate(pem(server["ca.crt"]));
    const serverCert = new X509Certificate(pem(server["tls.crt"]));
    const clientCert = new X509Certificate(pem(client["tls.crt"]));
    expect(ca.ca).toBe(true);
    expect(serverCert.verify(ca.publicKey)).toBe(true);
    expect(clientCert.verify(ca.publicKey)).toBe(true);
    for (const host of [0, 1, 2].map((i) => `smith-etcd-${i}.smith-etcd-headless.${namespace}.svc`))
      expect(serverCert.checkHost(host), host).toBeDefined();
    // Each member by its own name too (etcd resolves these to check a peer's address).
    for (const i of [0, 1, 2])
      expect(serverCert.subjectAltName).toContain(`DNS:smith-etcd-${i}.smith-etcd-headless.${namespace}.svc`);
    expect(serverCert.checkHost(`smith-etcd-3.smith-etcd-headless.${namespace}.svc.cluster.local`)).toBeDefined();
    expect(serverCert.checkHost(`smith-etcd-0.smith-etcd-headless.other.svc`)).toBeUndefined();
    expect(clientCert.subjectAltName).toBeUndefined();

    // Kept across upgrades (lookup): etcd and its clients keep trusting each other.
    const upgrade = await helm(["upgrade", "smith", CHART, "--namespace", namespace, "--kubeconfig", kubeconfig]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect(await secretData("smith-etcd-server")).toEqual(server);
    expect(await secretData("smith-etcd-client")).toEqual(client);

    // The objects as stored: etcd with TLS for clients and peers; the API and schedulers (only
    // they) with the client certificate's files.
    const objects = await helmTemplate(CHART, { release: "smith", namespace });
    const etcd = objects.find((o) => o.kind === "StatefulSet") as unknown as {
      spec: {
        template: { spec: { containers: { args: string[] }[]; volumes: { secret?: { secretName: string } }[] } };
      };
    };
    const args = etcd.spec.template.spec.containers[0]?.args ?? [];
    expect(args).toEqual(
      expect.arrayContaining([
        "--listen-client-urls=https://0.0.0.0:2379",
        "--listen-peer-urls=https://0.0.0.0:2380",
        "--client-cert-auth=true",
        "--peer-client-cert-auth=true",
        "--trusted-ca-file=/etc/etcd/tls/ca.crt",
        "--peer-trusted-ca-file=/etc/etcd/tls/ca.crt",
      ]),
    );
    expect(args.find((a) => a.startsWith("--initial-cluster="))).toMatch(
      /^--initial-cluster=(smith-etcd-\d=https:\/\/[^,]+,?){3}$/,
    );
    expect(etcd.spec.template.spec.volumes.map((v) => v.secret?.secretName)).toContain("smith-etcd-server");
    const certEnv = [
      { name: "SMITH_ETCD_CA_FILE", value: "/var/run/secrets/smith/etcd/ca.crt" },
      { name: "SMITH_ETCD_CERT_FILE", value: "/var/run/secrets/smith/etcd/tls.crt" },
      { name: "SMITH_ETCD_KEY_FILE", value: "/var/run/secrets/smith/etcd/tls.key" },
    ];
    for (const name of ["smith-api", "smith-scheduler"]) {
      const d = objects.find((o) => o.kind === "Deployment" && o.metadata?.name === name) as unknown as {
        spec: {
          template: {
            spec: {
              containers: { env: object[]; volumeMounts: { name: string; mountPath: string }[] }[];
              volumes: { name: string; secret?: { secretName: string } }[];
            };
          };
        };
      };
      const c = d.spec.template.spec.containers[0];
      expect(c?.env, name).toEqual(expect.arrayContaining(certEnv));
      expect(c?.volumeMounts).toContainEqual({
        name: "etcd-client",
        mountPath: "/var/run/secrets/smith/etcd",
        readOnly: true,
      });
      expect(d.spec.template.spec.volumes.find((v) => v.name === "etcd-client")?.secret?.secretName).toBe(
        "smith-etcd-client",
      );
    }
    const mentions = objects
      .filter((o) => o.kind !== "Secret" && JSON.stringify(o).includes("smith-etcd-client"))
      .map(describeObject);
    expect(mentions.sort()).toEqual(["Deployment/smith-api", "Deployment/smith-scheduler"]);
    // The replica Jobs (made by the scheduler) talk to the API only: their env has no etcd at all.
    const config = objects.find((o) => o.kind === "ConfigMap") as unknown as { data: Record<string, string> };
    expect(config.data.SMITH_ETCD_ENDPOINTS).toMatch(/^https:\/\//);

    // A real etcd with the chart's certificates: the client certificate is accepted under a
    // member's name; plain HTTP, TLS without a client certificate and the server's name of
    // another namespace are not.
    const dir = mkdtempSync(join(tmpdir(), "smith-chart-etcd-"));
    const [clientPort, peerPort] = await freePorts(2);
    for (const [file, data] of [
      ["ca.crt", server["ca.crt"]],
      ["tls.crt", server["tls.crt"]],
      ["tls.key", server["tls.key"]],
    ] as const)
      writeFileSync(join(dir, file), pem(data), { mode: 0o600 });
    const child = spawn(
      await findEtcdBinary(),
      [
        "--name=m",
        `--data-dir=${join(dir, "data")}`,
        `--listen-client-urls=https://127.0.0.1:${clientPort}`,
        `--advertise-client-urls=https://127.0.0.1:${clientPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=m=http://127.0.0.1:${peerPort}`,
        ...args
          .filter((a) => /^--(cert-file|key-file|trusted-ca-file|client-cert-auth)=/.test(a))
          .map((a) => a.replace("/etc/etcd/tls", dir)),
      ],
      { stdio: "ignore" },
    );
    const member = `smith-etcd-1.smith-etcd-headless.${namespace}.svc`;
    const health = (opts: { cert?: boolean; name?: string }) =>
      new Promise<string>((resolve) => {
        const req = httpsRequest(
          {
            host: "127.0.0.1",
            port: clientPort,
            path: "/health",
            ca: pem(client["ca.crt"]),
            ...(opts.cert !== false ? { cert: pem(client["tls.crt"]), key: pem(client["tls.key"]) } : {}),
            checkServerIdentity: (_host, cert) => checkServerIdentity(opts.name ?? member, cert),
            timeout: 2_000,
          },
          (res) => {
            let body = "";
            res.on("data", (b: Buffer) => (body += b.toString()));
            res.on("end", () => resolve(`${res.statusCode} ${body}`));
          },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (err) => resolve(`error ${err.message}`));
        req.end();
      });
    try {
      await expect.poll(() => health({}), { timeout: 20_000, interval: 200 }).toMatch(/^200 .*"health":"true"/);
      expect(await health({ cert: false })).toMatch(/^error /);
      expect(await health({ name: `smith-etcd-1.smith-etcd-headless.other.svc` })).toMatch(/^error .*altnames/i);
      const plain = await new Promise<string>((resolve) => {
        const req = httpRequest({ host: "127.0.0.1", port: clientPort, path: "/health", timeout: 2_000 }, (res) =>
          resolve(`${res.statusCode}`),
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (err) => resolve(`error ${err.message}`));
        req.end();
      });
      expect(plain).not.toBe("200");
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }

    // An external etcd: its Secret mounted by the API and schedulers, no etcd of the chart's.
    const externalNamespace = await createNamespace(kube.kubeConfig);
    const external = await helmTemplate(CHART, {
      release: "smith",
      namespace: externalNamespace,
      set: {
        "etcd.enabled": "false",
        "externalEtcd.endpoints": "{https://etcd-a.example:2379,https://etcd-b.example:2379}",
        "externalEtcd.tls.existingSecret": "corp-etcd-client",
      },
    });
    expect(kinds(external).filter((k) => k.includes("etcd"))).toEqual([]);
    expect(
      external
        .filter((o) => JSON.stringify(o).includes("corp-etcd-client"))
        .map(describeObject)
        .sort(),
    ).toEqual(["Deployment/smith-api", "Deployment/smith-scheduler"]);
    expect(JSON.stringify(external.find((o) => o.kind === "Deployment" && o.metadata?.name === "smith-api"))).toContain(
      "SMITH_ETCD_CERT_FILE",
    );
    expect(
      await dryRunAll(
        kube.kubeConfig,
        external.filter((o) => o.kind !== "Pod"),
      ),
    ).toEqual([]);

    // Plain HTTP only when asked for, and then the install says so.
    const plainForms: Record<string, string>[] = [
      { "etcd.tls.enabled": "false" },
      {
        "etcd.enabled": "false",
        "externalEtcd.endpoints": "{http://etcd.example:2379}",
        "externalEtcd.allowPlainHttp": "true",
      },
    ];
    for (const set of plainForms) {
      const plainObjects = await helmTemplate(CHART, { release: "smith", namespace, set });
      const text = JSON.stringify(plainObjects);
      expect(text).not.toContain("SMITH_ETCD_CA_FILE");
      expect(text).not.toContain("client-cert-auth");
      expect(kinds(plainObjects).filter((k) => k.startsWith("Secret/smith-etcd"))).toEqual([]);
      const dry = await helm([
        "install",
        "plain",
        CHART,
        "--namespace",
        namespace,
        "--kubeconfig",
        kubeconfig,
        "--dry-run=server",
        ...Object.entries(set).flatMap(([k, v]) => ["--set", `${k}=${v}`]),
      ]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(
        /WARNING: etcd over plain HTTP \((etcd\.tls\.enabled=false|externalEtcd\.allowPlainHttp=true)\)/,
      );
    }
  }, 180_000);
});
