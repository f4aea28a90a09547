import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { etcdTlsFromEnv } from "@smith/env";
import { parseEnv } from "./env.ts";

const KEY = "s".repeat(32);

describe("api env", () => {
  it("has defaults for everything but the signing key", () => {
    const env = parseEnv({ SMITH_SIGNING_KEY: KEY });
    expect(env).toMatchObject({
      SMITH_ETCD_ENDPOINTS: ["http://127.0.0.1:2379"],
      SMITH_ETCD_PREFIX: "/smith/v1",
      SMITH_API_PORT: 7070,
      SMITH_ALLOW_LOCAL_REPOS: false,
    });
  });

  it("allows local repositories only when told exactly so", () => {
    expect(parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_ALLOW_LOCAL_REPOS: "true" }).SMITH_ALLOW_LOCAL_REPOS).toBe(true);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_ALLOW_LOCAL_REPOS: "yes" })).toThrow(
      /SMITH_ALLOW_LOCAL_REPOS/,
    );
  });

  it("names the variable and the limit when one is wrong", () => {
    expect(() => parseEnv({})).toThrow(/SMITH_SIGNING_KEY/);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: "short" })).toThrow(/at least 32 bytes/);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_API_PORT: "70000" })).toThrow(/SMITH_API_PORT/);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_ETCD_ENDPOINTS: "not a url" })).toThrow(
      /etcd endpoint must be a URL/,
    );
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_ADMIN_TOKEN: "short" })).toThrow(/at least 16/);
  });

  it("reads secrets from *_FILE and splits endpoints", () => {
    const dir = mkdtempSync(join(tmpdir(), "smith-env-"));
    writeFileSync(join(dir, "key"), KEY + "\n");
    const env = parseEnv({ SMITH_SIGNING_KEY_FILE: join(dir, "key"), SMITH_ETCD_ENDPOINTS: "http://a:1, http://b:2" });
    expect(env.SMITH_SIGNING_KEY).toBe(KEY);
    expect(env.SMITH_ETCD_ENDPOINTS).toEqual(["http://a:1", "http://b:2"]);
  });

  it("reads the credentials keys, refusing a bad one without repeating it", () => {
    const primary = Buffer.alloc(32, 7).toString("base64");
    const old = "ab".repeat(32);
    const dir = mkdtempSync(join(tmpdir(), "smith-env-"));
    writeFileSync(join(dir, "ckey"), primary + "\n");
    const env = parseEnv({
      SMITH_SIGNING_KEY: KEY,
      SMITH_CREDENTIALS_KEY_FILE: join(dir, "ckey"),
      SMITH_CREDENTIALS_PREVIOUS_KEYS: `${old}, ${Buffer.alloc(32, 1).toString("base64url")}`,
    });
    expect(env.SMITH_CREDENTIALS_KEY).toBe(primary);
    expect(env.SMITH_CREDENTIALS_PREVIOUS_KEYS).toHaveLength(2);
    expect(env.SMITH_GITHUB_API_URL).toBe("https://api.github.com");
    expect(parseEnv({ SMITH_SIGNING_KEY: KEY }).SMITH_CREDENTIALS_KEY).toBeUndefined();

    const short = "c2hvcnQta2V5LXNlY3JldA==";
    let message = "";
    try {
      parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_CREDENTIALS_KEY: short });
    } catch (err) {
      message = String(err);
    }
    expect(message).toMatch(/SMITH_CREDENTIALS_KEY must be 32 bytes/);
    expect(message).not.toContain(short);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_CREDENTIALS_PREVIOUS_KEYS: old })).toThrow(
      /needs a primary SMITH_CREDENTIALS_KEY/,
    );
  });

  it("selects the credentials backend; kubernetes needs a namespace and a way to the Kubernetes API", () => {
    expect(parseEnv({ SMITH_SIGNING_KEY: KEY }).SMITH_CREDENTIALS_BACKEND).toBe("etcd");
    const env = parseEnv({
      SMITH_SIGNING_KEY: KEY,
      SMITH_CREDENTIALS_BACKEND: "kubernetes",
      SMITH_CREDENTIALS_NAMESPACE: "smith",
      KUBERNETES_SERVICE_HOST: "10.0.0.1",
    });
    expect(env).toMatchObject({ SMITH_CREDENTIALS_BACKEND: "kubernetes", SMITH_CREDENTIALS_NAMESPACE: "smith" });
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_CREDENTIALS_BACKEND: "kubernetes" })).toThrow(
      /SMITH_CREDENTIALS_NAMESPACE: required when SMITH_CREDENTIALS_BACKEND=kubernetes/,
    );
    expect(() =>
      parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_CREDENTIALS_BACKEND: "kubernetes", SMITH_CREDENTIALS_NAMESPACE: "s" }),
    ).toThrow(/needs KUBECONFIG, or to run in a Pod/);
    expect(() =>
      parseEnv({
        SMITH_SIGNING_KEY: KEY,
        SMITH_CREDENTIALS_BACKEND: "vault",
      }),
    ).toThrow(/SMITH_CREDENTIALS_BACKEND/);
  });

  it("replica access: SMITH_EXECUTOR=kubernetes needs the namespace and a way to the Kubernetes API, unless SMITH_REPLICA_ACCESS=none", () => {
    expect(parseEnv({ SMITH_SIGNING_KEY: KEY })).toMatchObject({
      SMITH_EXECUTOR: "local",
      SMITH_REPLICA_ACCESS: "exec",
    });
    const env = parseEnv({
      SMITH_SIGNING_KEY: KEY,
      SMITH_EXECUTOR: "kubernetes",
      SMITH_K8S_NAMESPACE: "smith",
      SMITH_REPLICA_LABELS: "app.kubernetes.io/instance=smith, team=a",
      SMITH_REPLICA_ACCESS: "read",
      KUBERNETES_SERVICE_HOST: "10.0.0.1",
    });
    expect(env).toMatchObject({
      SMITH_EXECUTOR: "kubernetes",
      SMITH_K8S_NAMESPACE: "smith",
      SMITH_REPLICA_LABELS: { "app.kubernetes.io/instance": "smith", team: "a" },
      SMITH_REPLICA_ACCESS: "read",
    });
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_EXECUTOR: "kubernetes", KUBECONFIG: "/k" })).toThrow(
      /SMITH_K8S_NAMESPACE: required when SMITH_EXECUTOR=kubernetes/,
    );
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_EXECUTOR: "kubernetes", SMITH_K8S_NAMESPACE: "s" })).toThrow(
      /SMITH_EXECUTOR=kubernetes needs KUBECONFIG, or to run in a Pod/,
    );
    expect(
      parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_EXECUTOR: "kubernetes", SMITH_REPLICA_ACCESS: "none" }).SMITH_EXECUTOR,
    ).toBe("kubernetes");
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_REPLICA_ACCESS: "write" })).toThrow(/SMITH_REPLICA_ACCESS/);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_REPLICA_LABELS: "=x" })).toThrow(
      /SMITH_REPLICA_LABELS: "=x" is not key=value/,
    );
    expect(() =>
      parseEnv({
        SMITH_SIGNING_KEY: KEY,
        SMITH_EXECUTOR: "kubernetes",
        SMITH_K8S_NAMESPACE: "Bad_NS",
        KUBECONFIG: "/k",
      }),
    ).toThrow(/SMITH_K8S_NAMESPACE.*DNS-1123/);
  });
  it("reads the GitHub settings, the secrets from *_FILE, and checks the loop template", () => {
    const dir = mkdtempSync(join(tmpdir(), "smith-env-"));
    writeFileSync(join(dir, "hook"), "h".repeat(20) + "\n");
    const env = parseEnv({
      SMITH_SIGNING_KEY: KEY,
      SMITH_GITHUB_WEBHOOK_SECRET_FILE: join(dir, "hook"),
      SMITH_GITHUB_LOOP_TEMPLATE: '{"agent":{"provider":"codex"},"qualityGates":["npm test"]}',
    });
    expect(env.SMITH_GITHUB_WEBHOOK_SECRET).toBe("h".repeat(20));
    expect(env.SMITH_GITHUB_LABEL).toBe("smith");
    expect(env.SMITH_GITHUB_LOOP_TEMPLATE).toMatchObject({
      agent: { provider: "codex", args: [] },
      qualityGates: ["npm test"],
    });
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_GITHUB_WEBHOOK_SECRET: "short" })).toThrow(/at least 16/);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_GITHUB_LOOP_TEMPLATE: "{" })).toThrow(/must be JSON/);
    expect(() =>
      parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_GITHUB_LOOP_TEMPLATE: '{"limits":{"maxAttempts":0}}' }),
    ).toThrow(/SMITH_GITHUB_LOOP_TEMPLATE.limits.maxAttempts/);
  });

  it("etcd TLS: the CA, client certificate and key from *_FILE; a certificate without its key or CA names the variable", () => {
    const dir = mkdtempSync(join(tmpdir(), "smith-env-"));
    for (const name of ["ca", "cert", "key"]) writeFileSync(join(dir, name), `-----BEGIN ${name}-----\n`);
    const env = parseEnv({
      SMITH_SIGNING_KEY: KEY,
      SMITH_ETCD_ENDPOINTS: "https://etcd:2379",
      SMITH_ETCD_CA_FILE: join(dir, "ca"),
      SMITH_ETCD_CERT_FILE: join(dir, "cert"),
      SMITH_ETCD_KEY_FILE: join(dir, "key"),
    });
    expect(etcdTlsFromEnv(env)).toEqual({
      ca: "-----BEGIN ca-----",
      cert: "-----BEGIN cert-----",
      key: "-----BEGIN key-----",
    });
    expect(etcdTlsFromEnv(parseEnv({ SMITH_SIGNING_KEY: KEY }))).toBeUndefined();
    expect(() => etcdTlsFromEnv({ SMITH_ETCD_CA: "c", SMITH_ETCD_CERT: "x" })).toThrow(/SMITH_ETCD_KEY: /);
    expect(() => etcdTlsFromEnv({ SMITH_ETCD_CERT: "x", SMITH_ETCD_KEY: "k" })).toThrow(/SMITH_ETCD_CA: /);
  });

  it("reads the repositories to poll and their interval, naming a bad one", () => {
    const none = parseEnv({ SMITH_SIGNING_KEY: KEY });
    expect(none.SMITH_GITHUB_POLL_REPOS).toEqual([]);
    expect(none.SMITH_GITHUB_POLL_INTERVAL_S).toBe(60);
    const env = parseEnv({
      SMITH_SIGNING_KEY: KEY,
      SMITH_GITHUB_POLL_REPOS: " acme/app, acme/web.site ,",
      SMITH_GITHUB_POLL_INTERVAL_S: "300",
    });
    expect(env.SMITH_GITHUB_POLL_REPOS).toEqual([
      { owner: "acme", name: "app" },
      { owner: "acme", name: "web.site" },
    ]);
    expect(env.SMITH_GITHUB_POLL_INTERVAL_S).toBe(300);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_GITHUB_POLL_REPOS: "acme/app,acme" })).toThrow(
      /SMITH_GITHUB_POLL_REPOS: "acme" is not owner\/repo/,
    );
    expect(() => parseEnv({ SMITH_SIGNING_KEY: KEY, SMITH_GITHUB_POLL_INTERVAL_S: "5" })).toThrow(
      /SMITH_GITHUB_POLL_INTERVAL_S/,
    );
  });
});
