import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from "@kubernetes/client-node";
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type EtcdServer, type StartEtcdOptions, startEtcd } from "../etcd.ts";
import { killOnExit, removeOnExit } from "../exitCleanup.ts";
import { OutputTail } from "../outputTail.ts";
import { freePort } from "../ports.ts";
import { ensureKubeTools } from "./tools.ts";

export interface StartKubeApiserverOptions {
  /** The kube-apiserver binary. Default: the one `ensureKubeTools()` built. */
  binary?: string;
  /** Options of the apiserver's own etcd. */
  etcd?: StartEtcdOptions;
  /** How long to wait for `/readyz`. Default 90 000 ms (a cold start on 2 busy cores takes ~10 s). */
  readyTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 10 000 ms. */
  stopTimeoutMs?: number;
  /** Extra flags, after the harness's own. */
  extraArgs?: readonly string[];
}

/** A real kube-apiserver (no controllers, no kubelet) on loopback, with its own etcd. */
export interface KubeApiserver {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** A KubeConfig for the admin user (group `system:masters`), verifying the server's certificate. */
  readonly kubeConfig: KubeConfig;
  readonly adminToken: string;
  /** PEM of the CA that signed the serving certificate. */
  readonly caCert: string;
  readonly etcd: EtcdServer;
  /** A KubeConfig that authenticates with `token` against this server. */
  kubeConfigForToken(token: string, user?: string): KubeConfig;
  /**
   * A token of the ServiceAccount `namespace/name` (created when missing) from the TokenRequest
   * API, for RBAC tests: it authenticates as `system:serviceaccount:<namespace>:<name>`.
   */
  serviceAccountToken(namespace: string, name: string, expirationSeconds?: number): Promise<string>;
  /**
   * A KubeConfig for a fresh ServiceAccount of `namespace` bound to a Role with exactly `rules`
   * (none: no grant at all), for tests of what a component may and may not do.
   */
  kubeConfigForRules(namespace: string, rules: V1PolicyRule[], namePrefix?: string): Promise<KubeConfig>;
  /** Writes a kubeconfig file for the admin (for helm and other tools) and returns its path. */
  writeKubeconfig(): Promise<string>;
  /** The tail of the apiserver's log. */
  logs(): string;
  /** Stops the apiserver and its etcd and removes their files. */
  stop(): Promise<void>;
}

export class KubeApiserverStartError extends Error {
  constructor(message: string, logs: string) {
    super(logs ? `${message}\n--- last lines of kube-apiserver's log ---\n${logs}` : message);
    this.name = "KubeApiserverStartError";
  }
}

const ADMIN_USER = "smith-test-admin";

/**
 * Starts kube-apiserver the way envtest does: against an etcd of its own, serving TLS on a free
 * loopback port with a self-signed certificate (written to a temporary `--cert-dir`), a
 * generated service-account key pair, a static token for an admin in `system:masters`, and
 * `--authorization-mode=RBAC` so that Roles are enforced for everyone else. Waits for `/readyz`.
 */
export async function startKubeApiserver(options: StartKubeApiserverOptions = {}): Promise<KubeApiserver> {
  let binary = options.binary;
  if (!binary) {
    const tools = await ensureKubeTools();
    if (!tools.available) throw new Error(tools.reason);
    binary = tools.kubeApiserver;
  }
  const dir = await mkdtemp(join(tmpdir(), "smith-kube-"));
  const forgetDir = removeOnExit(dir);
  let etcd: EtcdServer | undefined;
  try {
    etcd = await startEtcd({ name: "smith-kube", ...options.etcd });
    const certDir = join(dir, "certs");
    await mkdir(certDir, { recursive: true });
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await writeFile(join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
    await writeFile(join(dir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    const adminToken = randomBytes(24).toString("hex");
    // token,user,uid,"group1,group2"
    await writeFile(join(dir, "tokens.csv"), `${adminToken},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`, {
      mode: 0o600,
    });

    const log = new OutputTail(64 * 1024);
    for (let attempt = 1; ; attempt++) {
      // A probed port can be taken before the apiserver binds it: retry with another.
      const port = await freePort();
      const args = [
        `--etcd-servers=${etcd.endpoint}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${port}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${join(dir, "tokens.csv")}`,
        "--authorization-mode=RBAC",
        `--service-account-key-file=${join(dir, "sa.pub")}`,
        `--service-account-signing-key-file=${join(dir, "sa.key")}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.0.0.0/24",
        // The endpoint reconciler refuses a loopback advertise address; nothing here needs the
        // `kubernetes` Service's endpoints.
        "--endpoint-reconciler-type=none",
        // Nothing here runs the storage-version or other controllers; keep the log quiet.
        "--profiling=false",
        "--v=0",
        ...(options.extraArgs ?? []),
      ];
      const child = spawn(binary, args, {
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      });
      killOnExit(child);
      const tail = new OutputTail();
      for (const stream of [child.stdout, child.stderr]) {
        stream?.setEncoding("utf8");
        stream?.on("data", (c: string) => {
          log.append(c);
          tail.append(c);
        });
      }
      const url = `https://127.0.0.1:${port}`;
      try {
        await waitReady(child, url, adminToken, options.readyTimeoutMs ?? 90_000, tail);
      } catch (err) {
        await stopChild(child, 2_000);
        if (attempt < 5 && tail.text().includes("address already in use")) continue;
        throw err;
      }
      const caCert = await servingCa(certDir);
      const kubeConfigForToken = (token: string, user = "token-user"): KubeConfig => {
        const kc = new KubeConfig();
        kc.loadFromOptions({
          clusters: [
            { name: "smith-test", server: url, caData: Buffer.from(caCert).toString("base64"), skipTLSVerify: false },
          ],
          users: [{ name: user, token }],
          contexts: [{ name: "smith-test", cluster: "smith-test", user }],
          currentContext: "smith-test",
        });
        return kc;
      };
      const kubeConfig = kubeConfigForToken(adminToken, ADMIN_USER);
      const server = etcd;
      let stopped: Promise<void> | undefined;
      return {
        url,
        kubeConfig,
        adminToken,
        caCert,
        etcd: server,
        kubeConfigForToken,
        serviceAccountToken: (namespace, name, expirationSeconds = 3600) =>
          serviceAccountToken(kubeConfig, namespace, name, expirationSeconds),
        kubeConfigForRules: async (namespace, rules, namePrefix = "restricted") => {
          const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
          const name = `${namePrefix}-${randomBytes(3).toString("hex")}`;
          if (rules.length) {
            await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
            await rbac.createNamespacedRoleBinding({
              namespace,
              body: {
                metadata: { name },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
                subjects: [{ kind: "ServiceAccount", name, namespace }],
              },
            });
          }
          return kubeConfigForToken(await serviceAccountToken(kubeConfig, namespace, name, 3600));
        },
        writeKubeconfig: async () => {
          const path = join(dir, "kubeconfig");
          await writeFile(path, kubeConfig.exportConfig(), { mode: 0o600 });
          return path;
        },
        logs: () => log.text(),
        stop: () =>
          (stopped ??= (async () => {
            await stopChild(child, options.stopTimeoutMs ?? 10_000);
            await server.destroy();
            await rm(dir, { recursive: true, force: true });
            forgetDir();
          })()),
      };
    }
  } catch (err) {
    await etcd?.destroy();
    await rm(dir, { recursive: true, force: true });
    forgetDir();
    throw err;
  }
}

async function waitReady(
  child: ChildProcess,
  url: string,
  token: string,
  timeoutMs: number,
  tail: OutputTail,
): Promise<void> {
  let exited: string | undefined;
  child.once("error", (err) => (exited ??= `could not spawn kube-apiserver: ${err.message}`));
  child.once(
    "exit",
    (code, signal) => (exited ??= `kube-apiserver exited before becoming ready (code ${code}, signal ${signal})`),
  );
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    if (exited) {
      await sleep(100); // let the last output arrive
      throw new KubeApiserverStartError(exited, tail.lines(60));
    }
    const answer = await get(`${url}/readyz`, token);
    if (answer.status === 200) return;
    last = `${answer.status} ${answer.body.slice(0, 2000)}`;
    if (Date.now() > deadline)
      throw new KubeApiserverStartError(
        `kube-apiserver at ${url} was not ready after ${timeoutMs} ms (last /readyz: ${last})`,
        tail.lines(60),
      );
    await sleep(250);
  }
}

/** GET over TLS without verifying: used only while polling readiness, before the CA is known. */
function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", () => resolve({ status: 0, body: "" }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

/**
 * The self-signed serving certificate kube-apiserver writes to `--cert-dir` is a chain: the
 * serving certificate, then the CA that signed it. The CA (last PEM block) is what clients trust.
 */
async function servingCa(certDir: string): Promise<string> {
  const pem = await readFile(join(certDir, "apiserver.crt"), "utf8");
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  const ca = blocks.at(-1);
  if (!ca) throw new Error(`no certificate in ${certDir}/apiserver.crt`);
  return ca;
}

async function serviceAccountToken(
  admin: KubeConfig,
  namespace: string,
  name: string,
  expirationSeconds: number,
): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name, namespace } } });
  } catch (err) {
    if (!(typeof err === "object" && err !== null && "code" in err && err.code === 409)) throw err;
  }
  const answer = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = answer.status?.token;
  if (!token) throw new Error(`no token for ServiceAccount ${namespace}/${name}`);
  return token;
}

async function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}
