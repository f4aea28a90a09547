import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import type { EtcdCertFiles } from "./etcdCerts.ts";

export interface EtcdProcessOptions {
  /** Data lives in `<dir>/data`, the log in `<dir>/etcd.log`. */
  dir: string;
  clientPort: number;
  peerPort: number;
  binary?: string;
  /** The environment etcd starts with (ETCD_* variables are dropped: etcd reads its flags from them). */
  env: NodeJS.ProcessEnv;
  /**
   * Serve clients over TLS only, and only those with a certificate signed by the CA
   * (`--client-cert-auth`). Without it etcd speaks plain HTTP to anyone on loopback.
   */
  tls?: EtcdCertFiles;
}

/**
 * The private etcd of `smith up`: one member on loopback with its data in the state directory, so
 * a second `smith up` on the same directory finds the loops of the first.
 */
export class EtcdProcess {
  readonly endpoint: string;
  private readonly o: EtcdProcessOptions;
  private child: ChildProcess | undefined;
  private stopping = false;
  private reportDeath: (why: string) => void = () => undefined;
  /**
   * Resolves, with a sentence naming etcd, its exit and its log, when etcd exits after a
   * successful start without stop() having been called (killed, crashed, its data dir deleted).
   * Never resolves otherwise.
   */
  readonly died: Promise<string>;

  constructor(options: EtcdProcessOptions) {
    this.o = options;
    this.endpoint = `${options.tls ? "https" : "http"}://127.0.0.1:${options.clientPort}`;
    this.died = new Promise((resolve) => (this.reportDeath = resolve));
  }

  /** The log etcd writes (stdout and stderr). */
  get logFile(): string {
    return join(this.o.dir, "etcd.log");
  }

  async start(timeoutMs = 20_000): Promise<void> {
    mkdirSync(this.o.dir, { recursive: true });
    const log = openSync(join(this.o.dir, "etcd.log"), "a");
    const tls = this.o.tls;
    // The peer port (raft, /members, lease forwarding) is served like the client one: TLS, and only
    // to a certificate of the same CA, so an agent on the host cannot talk raft to the member either.
    const peer = `${tls ? "https" : "http"}://127.0.0.1:${this.o.peerPort}`;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.o.env)) if (v !== undefined && !k.startsWith("ETCD_")) env[k] = v;
    const tlsArgs = tls
      ? [
          `--cert-file=${tls.serverCertFile}`,
          `--key-file=${tls.serverKeyFile}`,
          `--trusted-ca-file=${tls.caFile}`,
          "--client-cert-auth=true",
          // The server certificate has clientAuth too: the member is its own (only) peer.
          `--peer-cert-file=${tls.serverCertFile}`,
          `--peer-key-file=${tls.serverKeyFile}`,
          `--peer-trusted-ca-file=${tls.caFile}`,
          "--peer-client-cert-auth=true",
        ]
      : [];
    this.child = spawn(
      this.o.binary ?? "etcd",
      [
        "--name=smith",
        `--data-dir=${join(this.o.dir, "data")}`,
        `--listen-client-urls=${this.endpoint}`,
        `--advertise-client-urls=${this.endpoint}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=smith=${peer}`,
        "--initial-cluster-state=new",
        "--logger=zap",
        "--log-outputs=stderr",
        ...tlsArgs,
      ],
      { stdio: ["ignore", log, log], env },
    );
    closeSync(log);
    const exited = new Promise<never>((_, reject) =>
      this.child?.once("exit", (code) => {
        const cause = lastLoggedError(this.logFile);
        reject(new Error(`etcd exited (code ${code})${cause ? `: ${cause}` : ""}; see ${this.logFile}`));
      }),
    );
    exited.catch(() => undefined);
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const ok = await Promise.race([healthy(this.endpoint, this.o.tls), exited]);
      if (ok) {
        this.child?.once("exit", (code, signal) => {
          if (!this.stopping)
            this.reportDeath(
              `etcd (pid ${this.child?.pid}) exited unexpectedly (${signal ? `signal ${signal}` : `code ${code}`}); its log: ${this.logFile}`,
            );
        });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`etcd did not become healthy within ${timeoutMs} ms; see ${join(this.o.dir, "etcd.log")}`);
  }

  /**
   * SIGTERM (with SIGCONT, so that a stopped etcd handles it), SIGKILL after `graceMs`: bounded
   * whatever etcd is doing.
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    child.kill("SIGCONT");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(timer);
  }

  /** SIGKILL at once, without waiting (a forced exit of `smith up`). */
  kill(): void {
    this.stopping = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

async function healthy(endpoint: string, tls: EtcdCertFiles | undefined): Promise<boolean> {
  if (tls) return healthyOverTls(endpoint, tls);
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return body.health === "true";
  } catch {
    return false;
  }
}

/** `/health` with the client certificate (fetch cannot present one). */
function healthyOverTls(endpoint: string, tls: EtcdCertFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${endpoint}/health`,
      {
        ca: readFileSync(tls.caFile),
        cert: readFileSync(tls.clientCertFile),
        key: readFileSync(tls.clientKeyFile),
        timeout: 1000,
      },
      (res) => {
        let body = "";
        res.on("data", (b: Buffer) => (body += b.toString()));
        res.on("end", () => {
          try {
            resolve((JSON.parse(body) as { health?: string }).health === "true");
          } catch {
            resolve(false);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * What etcd said last at level error or worse (its zap JSON lines: `msg` and `error`), so that a
 * start that fails ("listen tcp 127.0.0.1:2380: bind: address already in use") names its cause
 * on the terminal, not only in the log file.
 */
function lastLoggedError(logFile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return undefined;
  }
  const lines = text.trimEnd().split("\n").slice(-200).reverse();
  for (const line of lines) {
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown; error?: unknown };
      if (!["error", "dpanic", "panic", "fatal"].includes(String(entry.level))) continue;
      const parts = [entry.msg, entry.error].filter((x): x is string => typeof x === "string" && x !== "");
      if (parts.length > 0) return parts.join(": ").slice(0, 500);
    } catch {
      // not a JSON line (a Go panic's stack): skip
    }
  }
  return undefined;
}
