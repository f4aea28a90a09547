import { KubeConfig, type V1Container, type V1Job, type V1PodSpec } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { resolveKubernetesJobExecutorOptions, type KubernetesJobExecutorOptions } from "./executor.ts";
import {
  buildJob,
  buildTokenSecret,
  jobName,
  labelSelector,
  selectorLabels,
  type ReplicaTemplate,
} from "./manifests.ts";

const LOOP = "01jz8k3m4n5p6q7r8s9t0v1w2x";

function template(overrides: Partial<KubernetesJobExecutorOptions> = {}): ReplicaTemplate {
  return resolveKubernetesJobExecutorOptions({
    kubeConfig: new KubeConfig(),
    namespace: "smith",
    image: "ghcr.io/example/smith-replica:1.0.0",
    apiUrl: "http://smith-api.smith.svc:7070",
    ...overrides,
  }).template;
}

const input = { loopId: LOOP, attempt: 2, timeoutMs: 3_600_000 };

function pod(job: V1Job): V1PodSpec {
  const spec = job.spec?.template.spec;
  if (!spec) throw new Error("no pod spec");
  return spec;
}

function container(job: V1Job): V1Container {
  const c = pod(job).containers[0];
  if (!c) throw new Error("no container");
  return c;
}

function agent(job: V1Job): V1Container {
  const c = pod(job).initContainers?.find((x) => x.name === "agent");
  if (!c) throw new Error("no agent container");
  return c;
}

function envOf(job: V1Job): Record<string, string | undefined> {
  return Object.fromEntries(
    (container(job).env ?? []).map((e) => [
      e.name,
      e.value ?? (e.valueFrom ? `<${e.valueFrom.secretKeyRef?.name}/${e.valueFrom.secretKeyRef?.key}>` : undefined),
    ]),
  );
}

describe("jobName", () => {
  it.each([
    { name: "a loop id and attempt", loopId: LOOP, attempt: 1, expected: `smith-${LOOP}-1` },
    { name: "a large attempt", loopId: LOOP, attempt: 20, expected: `smith-${LOOP}-20` },
    { name: "attempt 0", loopId: LOOP, attempt: 0, expected: `smith-${LOOP}-0` },
  ])("$name", ({ loopId, attempt, expected }) => {
    expect(jobName(loopId, attempt)).toBe(expected);
  });

  it.each([
    { name: "upper case", loopId: "01JZ8K3M4N5P6Q7R8S9T0V1W2X" },
    { name: "characters outside [a-z0-9-]", loopId: "loop_with.dots/and slashes" },
    { name: "too long", loopId: "x".repeat(80) },
    { name: "only punctuation", loopId: "___" },
    { name: "a trailing dash after truncation", loopId: `${"a".repeat(39)}-${"b".repeat(20)}` },
  ])("is a DNS-1123 label of at most 63 characters for an id with $name", ({ loopId }) => {
    const name = jobName(loopId, 12345);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(name.startsWith("smith-")).toBe(true);
    expect(name.endsWith("-12345")).toBe(true);
  });

  it("keeps ids apart that only differ after the truncation point", () => {
    const a = jobName(`${"a".repeat(70)}1`, 1);
    const b = jobName(`${"a".repeat(70)}2`, 1);
    expect(a).not.toBe(b);
  });

  it("refuses a negative or fractional attempt", () => {
    expect(() => jobName(LOOP, -1)).toThrow(/attempt/);
    expect(() => jobName(LOOP, 1.5)).toThrow(/attempt/);
  });
});

describe("buildJob", () => {
  const job = buildJob(template(), input);

  it.each<{ field: string; get: (j: V1Job) => unknown; expected: unknown }>([
    { field: "apiVersion/kind", get: (j) => [j.apiVersion, j.kind], expected: ["batch/v1", "Job"] },
    { field: "name", get: (j) => j.metadata?.name, expected: `smith-${LOOP}-2` },
    { field: "namespace", get: (j) => j.metadata?.namespace, expected: "smith" },
    {
      field: "labels",
      get: (j) => j.metadata?.labels,
      expected: {
        "app.kubernetes.io/name": "smith",
        "app.kubernetes.io/component": "replica",
        "app.kubernetes.io/managed-by": "smith-scheduler",
        "smith.dev/loop-id": LOOP,
        "smith.dev/attempt": "2",
      },
    },
    {
      field: "pod labels equal the Job's",
      get: (j) => j.spec?.template.metadata?.labels,
      expected: job.metadata?.labels,
    },
    { field: "backoffLimit", get: (j) => j.spec?.backoffLimit, expected: 0 },
    {
      field: "activeDeadlineSeconds (timeout + grace)",
      get: (j) => j.spec?.activeDeadlineSeconds,
      expected: 3600 + 300,
    },
    { field: "ttlSecondsAfterFinished", get: (j) => j.spec?.ttlSecondsAfterFinished, expected: 3600 },
    { field: "restartPolicy", get: (j) => pod(j).restartPolicy, expected: "Never" },
    { field: "serviceAccountName", get: (j) => pod(j).serviceAccountName, expected: "default" },
    { field: "automountServiceAccountToken", get: (j) => pod(j).automountServiceAccountToken, expected: false },
    { field: "enableServiceLinks", get: (j) => pod(j).enableServiceLinks, expected: false },
    {
      field: "pod securityContext",
      get: (j) => pod(j).securityContext,
      expected: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        fsGroup: 1000,
        seccompProfile: { type: "RuntimeDefault" },
      },
    },
    {
      field: "container securityContext",
      get: (j) => container(j).securityContext,
      expected: {
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
      },
    },
    {
      field: "image",
      get: (j) => [container(j).image, container(j).imagePullPolicy],
      expected: ["ghcr.io/example/smith-replica:1.0.0", "IfNotPresent"],
    },
    { field: "no command override", get: (j) => container(j).command, expected: undefined },
    {
      field: "default resources: the agent's; the replica requests little, with the same memory limit",
      get: (j) => [agent(j).resources, container(j).resources],
      expected: [
        { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "4Gi" } },
        { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "4Gi" } },
      ],
    },
    { field: "no provider secret", get: (j) => container(j).envFrom, expected: undefined },
    {
      field: "volume mounts",
      get: (j) => container(j).volumeMounts?.map((m) => m.mountPath),
      expected: ["/workspace", "/home/smith", "/tmp", "/var/run/smith/token", "/var/run/smith/runner"],
    },
    {
      field: "init containers: the shared directory made as the replica's, then the agent as a native sidecar",
      get: (j) => pod(j).initContainers?.map((c) => [c.name, c.restartPolicy, c.command, c.securityContext?.runAsUser]),
      expected: [
        ["workspace", undefined, ["mkdir", "-m", "3770", "/workspace/work"], undefined],
        ["agent", "Always", ["/usr/bin/tini", "--", "smith-agent-runner"], 1001],
      ],
    },
    {
      field: "the agent container: another uid in the Pod's group, restricted, no probe (the replica waits for it)",
      get: (j) => [agent(j).securityContext, agent(j).startupProbe, agent(j).workingDir],
      expected: [
        {
          allowPrivilegeEscalation: false,
          privileged: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ["ALL"] },
          runAsUser: 1001,
          runAsGroup: 1000,
        },
        undefined,
        "/workspace/work",
      ],
    },
    {
      field:
        "the agent container sees only the shared directory (a subPath), its HOME, /tmp and the socket: no token, no provider Secret",
      get: (j) => [
        agent(j).volumeMounts?.map((m) => [m.name, m.mountPath, m.subPath]),
        agent(j).envFrom,
        Object.fromEntries((agent(j).env ?? []).map((e) => [e.name, e.value])),
      ],
      expected: [
        [
          ["workspace", "/workspace/work", "work"],
          ["agent-home", "/home/agent", undefined],
          ["agent-tmp", "/tmp", undefined],
          ["runner", "/var/run/smith/runner", undefined],
        ],
        undefined,
        {
          HOME: "/home/agent",
          TMPDIR: "/tmp",
          SMITH_AGENT_RUNNER_SOCKET: "/var/run/smith/runner/agent.sock",
          SMITH_AGENT_RUNNER_ROOT: "/workspace/work",
          SMITH_AGENT_RUNNER_SWEEP: "true",
        },
      ],
    },
    {
      field: "volumes are emptyDirs, and the token's Secret (read-only, 0400)",
      get: (j) => [
        pod(j).volumes?.map((v) => [v.name, v.emptyDir ?? v.secret]),
        container(j).volumeMounts?.find((m) => m.name === "token")?.readOnly,
      ],
      expected: [
        [
          ["workspace", {}],
          ["home", {}],
          ["tmp", {}],
          ["agent-home", {}],
          ["agent-tmp", {}],
          ["runner", { medium: "Memory", sizeLimit: "1Mi" }],
          [
            "token",
            { secretName: `smith-${LOOP}-2-token`, defaultMode: 0o400, items: [{ key: "token", path: "token" }] },
          ],
        ],
        true,
      ],
    },
    {
      field: "environment",
      get: envOf,
      expected: {
        HOME: "/home/smith",
        TMPDIR: "/tmp",
        SMITH_API_URL: "http://smith-api.smith.svc:7070",
        SMITH_LOOP_ID: LOOP,
        SMITH_ATTEMPT: "2",
        SMITH_WORK_DIR: "/workspace/work/repo",
        SMITH_TOKEN_FILE: "/var/run/smith/token/token",
        SMITH_AGENT_RUNNER_SOCKET: "/var/run/smith/runner/agent.sock",
      },
    },
    {
      field: "no pull secrets, node selector or tolerations",
      get: (j) => [pod(j).imagePullSecrets, pod(j).nodeSelector, pod(j).tolerations],
      expected: [undefined, undefined, undefined],
    },
  ])("$field", ({ get, expected }) => {
    expect(get(job)).toEqual(expected);
  });

  it("never puts the token into the Job", () => {
    expect(JSON.stringify(buildJob(template(), input))).not.toContain("secret-token-value");
  });

  it.each<{ name: string; options: Partial<KubernetesJobExecutorOptions>; check: (j: V1Job) => void }>([
    {
      name: "resources from the options",
      options: {
        resources: {
          requests: { cpu: "2", memory: "4Gi" },
          limits: { cpu: "4", memory: "8Gi", "ephemeral-storage": "30Gi" },
        },
      },
      check: (j) => {
        expect(agent(j).resources).toEqual({
          requests: { cpu: "2", memory: "4Gi" },
          limits: { cpu: "4", memory: "8Gi", "ephemeral-storage": "30Gi" },
        });
        expect(container(j).resources).toEqual({
          requests: { cpu: "100m", memory: "256Mi" },
          limits: { memory: "8Gi" },
        });
      },
    },
    {
      name: "the agent's uid and command",
      options: { agentRunAsUser: 20000, agentCommand: ["/bin/runner"] },
      check: (j) => {
        expect(agent(j).securityContext?.runAsUser).toBe(20000);
        expect(agent(j).command).toEqual(["/bin/runner"]);
      },
    },
    {
      name: "the provider credentials Secret as optional envFrom",
      options: { providerSecretName: "smith-providers" },
      check: (j) => expect(container(j).envFrom).toEqual([{ secretRef: { name: "smith-providers", optional: true } }]),
    },
    {
      name: "the replica service account",
      options: { serviceAccountName: "smith-replica" },
      check: (j) => expect(pod(j).serviceAccountName).toBe("smith-replica"),
    },
    {
      name: "a TTL",
      options: { ttlSecondsAfterFinished: 60 },
      check: (j) => expect(j.spec?.ttlSecondsAfterFinished).toBe(60),
    },
    {
      name: "a deadline grace",
      options: { deadlineGraceSeconds: 0 },
      check: (j) => expect(j.spec?.activeDeadlineSeconds).toBe(3600),
    },
    {
      name: "uid, gid and fsGroup",
      options: { runAsUser: 10001, runAsGroup: 10002, fsGroup: 10003 },
      check: (j) =>
        expect(pod(j).securityContext).toMatchObject({ runAsUser: 10001, runAsGroup: 10002, fsGroup: 10003 }),
    },
    {
      name: "a workspace size limit",
      options: { workspaceSizeLimit: "20Gi" },
      check: (j) => expect(pod(j).volumes?.[0]).toEqual({ name: "workspace", emptyDir: { sizeLimit: "20Gi" } }),
    },
    {
      name: "a command",
      options: { command: ["smith-replica"] },
      check: (j) => expect(container(j).command).toEqual(["smith-replica"]),
    },
    {
      name: "pull policy and pull secrets",
      options: { imagePullPolicy: "Always", imagePullSecrets: ["regcred"] },
      check: (j) => {
        expect(container(j).imagePullPolicy).toBe("Always");
        expect(pod(j).imagePullSecrets).toEqual([{ name: "regcred" }]);
      },
    },
    {
      name: "node selector and tolerations",
      options: {
        nodeSelector: { pool: "agents" },
        tolerations: [{ key: "agents", operator: "Exists", effect: "NoSchedule" }],
      },
      check: (j) => {
        expect(pod(j).nodeSelector).toEqual({ pool: "agents" });
        expect(pod(j).tolerations).toEqual([{ key: "agents", operator: "Exists", effect: "NoSchedule" }]);
      },
    },
    {
      name: "extra labels on Job and Pod",
      options: { labels: { "app.kubernetes.io/instance": "prod" } },
      check: (j) => {
        expect(j.metadata?.labels?.["app.kubernetes.io/instance"]).toBe("prod");
        expect(j.spec?.template.metadata?.labels?.["app.kubernetes.io/instance"]).toBe("prod");
      },
    },
    {
      name: "extra env, which cannot replace Smith's own variables",
      options: {
        env: { SMITH_GATE_TIMEOUT_MS: "60000", SMITH_TOKEN: "forged", SMITH_LOOP_ID: "other", HOME: "/root" },
      },
      check: (j) => {
        const env = container(j).env ?? [];
        expect(env.filter((e) => e.name === "SMITH_TOKEN")).toHaveLength(0);
        expect(envOf(j)).toMatchObject({
          SMITH_GATE_TIMEOUT_MS: "60000",
          SMITH_LOOP_ID: LOOP,
          HOME: "/home/smith",
          SMITH_TOKEN_FILE: "/var/run/smith/token/token",
        });
      },
    },
    {
      name: "a fractional timeout rounds the deadline up",
      options: {},
      check: () =>
        expect(buildJob(template(), { ...input, timeoutMs: 1_500 }).spec?.activeDeadlineSeconds).toBe(2 + 300),
    },
  ])("$name", ({ options, check }) => {
    check(buildJob(template(options), input));
  });
});

describe("buildTokenSecret", () => {
  const secret = buildTokenSecret(
    template(),
    input,
    { name: `smith-${LOOP}-2`, uid: "0b8d3c52-7a2e-4c6b-9a51-2f8e0c7d1a11" },
    "secret-token-value",
  );

  it.each<{ field: string; get: () => unknown; expected: unknown }>([
    { field: "name", get: () => secret.metadata?.name, expected: `smith-${LOOP}-2-token` },
    { field: "namespace", get: () => secret.metadata?.namespace, expected: "smith" },
    { field: "type", get: () => secret.type, expected: "Opaque" },
    { field: "immutable", get: () => secret.immutable, expected: true },
    { field: "the token", get: () => secret.stringData, expected: { token: "secret-token-value" } },
    {
      field: "owned by the Job",
      get: () => secret.metadata?.ownerReferences,
      expected: [
        {
          apiVersion: "batch/v1",
          kind: "Job",
          name: `smith-${LOOP}-2`,
          uid: "0b8d3c52-7a2e-4c6b-9a51-2f8e0c7d1a11",
          controller: true,
        },
      ],
    },
    {
      field: "the Job's labels",
      get: () => secret.metadata?.labels,
      expected: buildJob(template(), input).metadata?.labels,
    },
  ])("$field", ({ get, expected }) => {
    expect(get()).toEqual(expected);
  });
});

describe("label selector", () => {
  it.each<{ labels: Record<string, string>; expected: string }>([
    { labels: {}, expected: "app.kubernetes.io/component=replica,app.kubernetes.io/name=smith" },
    {
      labels: { "app.kubernetes.io/instance": "prod" },
      expected: "app.kubernetes.io/component=replica,app.kubernetes.io/instance=prod,app.kubernetes.io/name=smith",
    },
    // The selector's own labels cannot be overridden into selecting someone else's objects.
    {
      labels: { "app.kubernetes.io/name": "other" },
      expected: "app.kubernetes.io/component=replica,app.kubernetes.io/name=smith",
    },
  ])("$expected", ({ labels, expected }) => {
    expect(labelSelector(selectorLabels({ labels }))).toBe(expected);
  });
});

describe("resolveKubernetesJobExecutorOptions", () => {
  it.each<{ name: string; options: Partial<KubernetesJobExecutorOptions>; error: RegExp }>([
    { name: "a namespace that is not a DNS label", options: { namespace: "Smith_NS" }, error: /namespace/ },
    { name: "an empty image", options: { image: " " }, error: /image/ },
    { name: "an API URL that is not a URL", options: { apiUrl: "smith-api:7070/x y" }, error: /apiUrl/ },
    { name: "root", options: { runAsUser: 0 }, error: /runAsUser/ },
    { name: "an agent as root", options: { agentRunAsUser: 0 }, error: /agentRunAsUser: must be a non-root uid/ },
    {
      name: "an agent as the replica's uid",
      options: { runAsUser: 1000, agentRunAsUser: 1000 },
      error: /agentRunAsUser: must differ from runAsUser \(1000\)/,
    },
    { name: "a negative TTL", options: { ttlSecondsAfterFinished: -1 }, error: /ttlSecondsAfterFinished/ },
  ])("refuses $name", ({ options, error }) => {
    expect(() => template(options)).toThrow(error);
  });
});
