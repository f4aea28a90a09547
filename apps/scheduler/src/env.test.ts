import { describe, expect, it } from "vitest";
import { kubernetesExecutorOptions, parseEnv, retentionPolicy } from "./env.ts";

const BASE = { SMITH_SIGNING_KEY: "k".repeat(32), SMITH_API_URL: "http://127.0.0.1:7070" };

describe("scheduler env", () => {
  it("defaults, and per-key limits parsed from key=limit pairs", () => {
    const env = parseEnv({ ...BASE, SMITH_CONCURRENCY_KEYS: "repo-a=2, repo-b=5" });
    expect(env).toMatchObject({
      SMITH_EXECUTOR: "local",
      SMITH_CONCURRENCY_PER_KEY: 1,
      SMITH_CONCURRENCY_KEYS: { "repo-a": 2, "repo-b": 5 },
    });
    expect(env.SMITH_REPLICA_COMMAND[1]).toMatch(/apps\/replica\/src\/main\.ts$/);
  });

  it("names the variable that is wrong", () => {
    expect(() => parseEnv({ ...BASE, SMITH_CONCURRENCY_KEYS: "a=0" })).toThrow(/SMITH_CONCURRENCY_KEYS.*key=limit/s);
    expect(() => parseEnv({ ...BASE, SMITH_REPLICA_COMMAND: "node x.ts" })).toThrow(/JSON array/);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: BASE.SMITH_SIGNING_KEY })).toThrow(/SMITH_API_URL/);
    expect(() => parseEnv({ ...BASE, SMITH_EXECUTOR: "nomad" })).toThrow(/SMITH_EXECUTOR/);
  });

  it("SMITH_AGENT_USER: one user or a comma-separated pool of at most 64 user names", () => {
    expect(parseEnv({ ...BASE, SMITH_AGENT_USER: "smith-agent" }).SMITH_AGENT_USER).toBe("smith-agent");
    expect(parseEnv({ ...BASE, SMITH_AGENT_USER: "a1,a2,a3" }).SMITH_AGENT_USER).toBe("a1,a2,a3");
    const pool = Array.from({ length: 65 }, (_, i) => `a${i}`).join(",");
    for (const bad of ["a1,,a2", "Root", "a1, a2", "-x", pool, `a${"b".repeat(32)}`])
      expect(() => parseEnv({ ...BASE, SMITH_AGENT_USER: bad })).toThrow(/SMITH_AGENT_USER.*1 to 64 user names/s);
  });

  it("notification webhooks: bounded, well-formed, and never without a signing secret", () => {
    const secret = "s".repeat(16);
    const env = parseEnv({
      ...BASE,
      SMITH_NOTIFY_URLS: " https://hooks.example/a , http://127.0.0.1:9/b",
      SMITH_NOTIFY_SECRET: secret,
    });
    expect(env.SMITH_NOTIFY_URLS).toEqual(["https://hooks.example/a", "http://127.0.0.1:9/b"]);
    expect(env.SMITH_NOTIFY_MAX_ATTEMPTS).toBe(5);
    expect(parseEnv(BASE).SMITH_NOTIFY_URLS).toEqual([]);
    expect(() => parseEnv({ ...BASE, SMITH_NOTIFY_URLS: "https://hooks.example/a" })).toThrow(
      /SMITH_NOTIFY_SECRET: required when SMITH_NOTIFY_URLS is set/,
    );
    const six = Array.from({ length: 6 }, (_, i) => `https://h${i}.example/`).join(",");
    expect(() => parseEnv({ ...BASE, SMITH_NOTIFY_URLS: six, SMITH_NOTIFY_SECRET: secret })).toThrow(
      /SMITH_NOTIFY_URLS: at most 5 URLs, got 6/,
    );
    expect(() => parseEnv({ ...BASE, SMITH_NOTIFY_URLS: "ftp://x.example/", SMITH_NOTIFY_SECRET: secret })).toThrow(
      /SMITH_NOTIFY_URLS: URL 1 must be an http:\/\/ or https:\/\/ URL/,
    );
    expect(() =>
      parseEnv({ ...BASE, SMITH_NOTIFY_URLS: "https://user:pw@x.example/", SMITH_NOTIFY_SECRET: secret }),
    ).toThrow(/URL 1 must not carry a user name or password/);
    expect(() =>
      parseEnv({ ...BASE, SMITH_NOTIFY_URLS: `https://x.example/${"a".repeat(2048)}`, SMITH_NOTIFY_SECRET: secret }),
    ).toThrow(/URL 1 is longer than 2048 characters/);
    expect(() => parseEnv({ ...BASE, SMITH_NOTIFY_SECRET: "short" })).toThrow(/SMITH_NOTIFY_SECRET.*16 bytes/);
  });

  it("retention: SMITH_RETENTION_DAYS is the default of each state's window; audit and the cap have their own", () => {
    expect(retentionPolicy(parseEnv(BASE))).toBeUndefined();
    expect(
      retentionPolicy(parseEnv({ ...BASE, SMITH_RETENTION_DAYS: "30", SMITH_RETENTION_SYNCED_DAYS: "7" })),
    ).toEqual({
      windows: { synced: 7 * 86_400_000, flatline: 30 * 86_400_000, cancelled: 30 * 86_400_000 },
      maxPerPass: 500,
    });
    expect(
      retentionPolicy(parseEnv({ ...BASE, SMITH_RETENTION_AUDIT_DAYS: "90", SMITH_RETENTION_MAX_PER_PASS: "50" })),
    ).toEqual({ windows: {}, auditMs: 90 * 86_400_000, maxPerPass: 50 });
    expect(() => parseEnv({ ...BASE, SMITH_RETENTION_MAX_PER_PASS: "0" })).toThrow(/SMITH_RETENTION_MAX_PER_PASS/);
    expect(() => parseEnv({ ...BASE, SMITH_RETENTION_FLATLINE_DAYS: "-1" })).toThrow(/SMITH_RETENTION_FLATLINE_DAYS/);
  });

  it("a per-key daily budget in USD, positive", () => {
    expect(parseEnv(BASE).SMITH_BUDGET_PER_KEY_USD_PER_DAY).toBeUndefined();
    expect(parseEnv({ ...BASE, SMITH_BUDGET_PER_KEY_USD_PER_DAY: "12.5" }).SMITH_BUDGET_PER_KEY_USD_PER_DAY).toBe(12.5);
    expect(() => parseEnv({ ...BASE, SMITH_BUDGET_PER_KEY_USD_PER_DAY: "0" })).toThrow(
      /SMITH_BUDGET_PER_KEY_USD_PER_DAY/,
    );
  });

  describe("SMITH_EXECUTOR=kubernetes", () => {
    const K8S = {
      ...BASE,
      SMITH_EXECUTOR: "kubernetes",
      SMITH_K8S_NAMESPACE: "smith",
      SMITH_REPLICA_IMAGE: "ghcr.io/x/smith-replica:1",
      KUBERNETES_SERVICE_HOST: "10.0.0.1",
    };

    it("requires a namespace, an image and a way to reach the API server", () => {
      expect(() => parseEnv({ ...BASE, SMITH_EXECUTOR: "kubernetes" })).toThrow(
        /SMITH_K8S_NAMESPACE: required.*SMITH_REPLICA_IMAGE: required.*KUBECONFIG/s,
      );
      expect(() => parseEnv({ ...K8S, SMITH_K8S_NAMESPACE: "Not_A_Namespace" })).toThrow(
        /SMITH_K8S_NAMESPACE.*DNS-1123/,
      );
      expect(() => parseEnv({ ...K8S, SMITH_REPLICA_MEMORY_LIMIT: "lots" })).toThrow(
        /SMITH_REPLICA_MEMORY_LIMIT.*quantity/,
      );
      expect(() => parseEnv({ ...K8S, SMITH_REPLICA_TOLERATIONS: "{}" })).toThrow(/SMITH_REPLICA_TOLERATIONS/);
      expect(() => parseEnv({ ...K8S, SMITH_REPLICA_LABELS: "novalue" })).toThrow(/SMITH_REPLICA_LABELS/);
    });

    it("in a Pod: in-cluster config, defaults for everything else", () => {
      const { source, options } = kubernetesExecutorOptions(parseEnv(K8S), {});
      expect(source).toEqual({ type: "in-cluster", host: "10.0.0.1", port: "443" });
      expect(options).toEqual({
        namespace: "smith",
        image: "ghcr.io/x/smith-replica:1",
        apiUrl: "http://127.0.0.1:7070",
        imagePullPolicy: "IfNotPresent",
        imagePullSecrets: [],
        serviceAccountName: undefined,
        resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "4Gi" } },
        providerSecretName: undefined,
        ttlSecondsAfterFinished: 3600,
        deadlineGraceSeconds: 300,
        runAsUser: 1000,
        agentRunAsUser: 1001,
        workspaceSizeLimit: undefined,
        env: {},
        labels: {},
        nodeSelector: {},
        tolerations: [],
      });
    });

    it("every setting, a kubeconfig file, and only tuning variables passed to replicas", () => {
      const env = parseEnv({
        ...K8S,
        KUBECONFIG: "/etc/kube/config",
        SMITH_KUBE_CONTEXT: "prod",
        SMITH_REPLICA_IMAGE_PULL_POLICY: "Always",
        SMITH_REPLICA_IMAGE_PULL_SECRETS: "regcred, other",
        SMITH_REPLICA_SERVICE_ACCOUNT: "smith-replica",
        SMITH_REPLICA_CPU_REQUEST: "1",
        SMITH_REPLICA_CPU_LIMIT: "2",
        SMITH_REPLICA_EPHEMERAL_STORAGE_LIMIT: "30Gi",
        SMITH_REPLICA_WORKSPACE_SIZE_LIMIT: "20Gi",
        SMITH_PROVIDER_SECRET: "smith-providers",
        SMITH_REPLICA_TTL_SECONDS: "600",
        SMITH_REPLICA_RUN_AS_USER: "10001",
        SMITH_REPLICA_AGENT_RUN_AS_USER: "10002",
        SMITH_REPLICA_LABELS: "app.kubernetes.io/instance=prod",
        SMITH_REPLICA_NODE_SELECTOR: "pool=agents",
        SMITH_REPLICA_TOLERATIONS: '[{"key":"agents","operator":"Exists","effect":"NoSchedule"}]',
      });
      const { source, options } = kubernetesExecutorOptions(env, {
        SMITH_GATE_TIMEOUT_MS: "60000",
        ANTHROPIC_API_KEY: "secret",
        PATH: "/bin",
      });
      expect(source).toEqual({ type: "file", path: "/etc/kube/config", context: "prod" });
      expect(options).toMatchObject({
        imagePullPolicy: "Always",
        imagePullSecrets: ["regcred", "other"],
        serviceAccountName: "smith-replica",
        resources: {
          requests: { cpu: "1", memory: "1Gi" },
          limits: { cpu: "2", memory: "4Gi", "ephemeral-storage": "30Gi" },
        },
        workspaceSizeLimit: "20Gi",
        providerSecretName: "smith-providers",
        ttlSecondsAfterFinished: 600,
        runAsUser: 10001,
        agentRunAsUser: 10002,
        labels: { "app.kubernetes.io/instance": "prod" },
        nodeSelector: { pool: "agents" },
        tolerations: [{ key: "agents", operator: "Exists", effect: "NoSchedule" }],
      });
      // Credentials reach replicas through the provider Secret, never through the Job spec.
      expect(options.env).toEqual({ SMITH_GATE_TIMEOUT_MS: "60000" });
    });
  });
});
