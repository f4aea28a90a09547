import { ApiServer, type ApiServerOptions, type GitHubOptions } from "@smith/api";
import { silentLogger } from "@smith/logger";
import { createSmithClient, type SmithClient } from "@smith/client";
import {
  isSmithError,
  type CreateLoopRequest,
  type JournalEntry,
  type ListedReplica,
  type Loop,
  type LoopState,
} from "@smith/core";
import { LocalProcessExecutor } from "@smith/executor";
import { CredentialKeyring, SmithStore } from "@smith/store";
import { freePort, runOnExit } from "@smith/testing/standalone";
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const SIGNING_KEY = "e2e-signing-key-0123456789abcdefghijklmnop";
export const ADMIN_TOKEN = "e2e-admin-token-0123456789";
const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const SCHEDULER_MAIN = join(ROOT, "apps/scheduler/src/main.ts");
const REPLICA_MAIN = join(ROOT, "apps/replica/src/main.ts");
const API_MAIN = join(ROOT, "apps/api/src/main.ts");

/**
 * Safety net for a test whose teardown never ran or never finished (a test timeout, a hook
 * timeout, a worker ended early): when this process exits, every scheduler and API process
 * still running is SIGKILLed, and so are the replicas of every state dir (with their agents'
 * recorded process groups), which otherwise outlive their schedulers by design and would load
 * the machine for the test files that follow.
 */
const leftovers = { children: new Set<ChildProcess>(), stateDirs: new Set<string>() };
let exitHookInstalled = false;
function killOnExit(item: { child?: ChildProcess; stateDir?: string }): void {
  if (item.child) leftovers.children.add(item.child);
  if (item.stateDir) leftovers.stateDirs.add(item.stateDir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  runOnExit(() => {
    for (const child of leftovers.children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const stateDir of leftovers.stateDirs) {
      // A state dir its test already removed has nothing running (and must not be made again).
      if (existsSync(stateDir)) new LocalProcessExecutor({ stateDir, command: ["true"], env: {} }).signalAll("SIGKILL");
    }
  });
}

export interface SchedulerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export interface StackOptions {
  /** Replica lock TTL at the API (short, so that a killed replica is noticed quickly). */
  lockTtlMs?: number;
  /** GitHub for the API: the webhook, issue ingress and pull requests. */
  github?: GitHubOptions;
  /** How often the API reads the outbox of flatline comments (ApiServerOptions.githubOutbox). */
  githubOutbox?: ApiServerOptions["githubOutbox"];
}

/**
 * A whole Smith on one machine for a test: the API in this process (over real HTTP), schedulers
 * and replicas as real child processes, the executor's state in `dir`.
 */
export class Stack {
  readonly store: SmithStore;
  api: ApiServer;
  private readonly lockTtlMs: number;
  private readonly github: GitHubOptions | undefined;
  private readonly githubOutbox: ApiServerOptions["githubOutbox"];
  readonly dir: string;
  readonly endpoint: string;
  readonly prefix: string;
  url = "";
  admin!: SmithClient;
  readonly schedulers: SchedulerProcess[] = [];
  /** The state dirs of the schedulers started (their replicas are stopped on close). */
  private readonly stateDirs = new Set<string>();
  /** The API's credentials key, kept across API restarts. */
  readonly credentialsKeyring = new CredentialKeyring(randomBytes(32));

  private constructor(endpoint: string, prefix: string, dir: string, options: StackOptions) {
    this.endpoint = endpoint;
    this.prefix = prefix;
    this.dir = dir;
    this.store = new SmithStore({ endpoints: [endpoint], prefix });
    this.lockTtlMs = options.lockTtlMs ?? 3_000;
    this.github = options.github;
    this.githubOutbox = options.githubOutbox;
    this.api = this.newApi();
  }

  private newApi(): ApiServer {
    return new ApiServer({
      store: this.store,
      signingKey: SIGNING_KEY,
      adminToken: ADMIN_TOKEN,
      lockTtlMs: this.lockTtlMs,
      credentialsKeyring: this.credentialsKeyring,
      logger: silentLogger,
      defaultMetrics: false,
      allowLocalRepos: true,
      ...(this.github ? { github: this.github } : {}),
      ...(this.githubOutbox ? { githubOutbox: this.githubOutbox } : {}),
    });
  }

  /** Stops the API and starts a new one on the same port after `downMs`. */
  async restartApi(downMs: number, whileDown?: () => void): Promise<void> {
    const port = this.api.port;
    await this.api.stop(100);
    whileDown?.();
    await new Promise((r) => setTimeout(r, downMs));
    this.api = this.newApi();
    await this.api.start({ port });
  }

  static async start(endpoint: string, prefix: string, dir: string, options: StackOptions = {}): Promise<Stack> {
    const stack = new Stack(endpoint, prefix, dir, options);
    stack.url = (await stack.api.start()).url;
    stack.admin = createSmithClient({ url: stack.url, token: ADMIN_TOKEN });
    return stack;
  }

  /** Starts a scheduler process. */
  startScheduler(env: Record<string, string> = {}): SchedulerProcess {
    const stateDir = join(this.dir, "state");
    mkdirSync(stateDir, { recursive: true });
    const child = spawn(process.execPath, [SCHEDULER_MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? this.dir,
        SMITH_ETCD_ENDPOINTS: this.endpoint,
        SMITH_ETCD_PREFIX: this.prefix.replace(/\/$/, ""),
        SMITH_SIGNING_KEY: SIGNING_KEY,
        SMITH_API_URL: this.url,
        SMITH_STATE_DIR: stateDir,
        SMITH_REPLICA_COMMAND: JSON.stringify([process.execPath, REPLICA_MAIN]),
        SMITH_START_GRACE_MS: "15000",
        SMITH_RETRY_BACKOFF_MS: "200",
        SMITH_RECONCILE_INTERVAL_MS: "500",
        SMITH_POLL_INTERVAL_MS: "300",
        SMITH_SESSION_TTL_S: "3",
        SMITH_HEARTBEAT_MS: "300",
        SMITH_CONCURRENCY_PER_KEY: "4",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.stateDirs.add(env.SMITH_STATE_DIR ?? stateDir);
    killOnExit({ child, stateDir: env.SMITH_STATE_DIR ?? stateDir });
    let out = "";
    const keep = (b: Buffer) => {
      out += b.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const p = { child, output: () => out, exited };
    this.schedulers.push(p);
    return p;
  }

  async create(request: CreateLoopRequest): Promise<Loop> {
    return (await this.admin.loops.create.mutate(request)).loop;
  }

  async waitFor(loopId: string, states: LoopState[], timeoutMs = 60_000, detail?: () => string): Promise<Loop> {
    const end = Date.now() + timeoutMs;
    let last: Loop | undefined;
    while (Date.now() < end) {
      try {
        last = (await this.store.loops.getOrThrow(loopId)).loop;
        if (states.includes(last.status.state)) return last;
      } catch (err) {
        // etcd slow under a loaded machine (the client's breaker opens for a second): poll again.
        if (!isSmithError(err) || !err.recoverable) throw err;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    const journal = (await this.journal(loopId))
      .map((e) => `${e.seq} ${e.phase} ${e.level} ${e.message.slice(0, 300)}`)
      .join("\n");
    throw new Error(
      `loop ${loopId} is ${last?.status.state} (${last?.status.reason}), not ${states.join("|")} after ${timeoutMs} ms\n${journal}\n${detail?.() ?? this.schedulers.map((s) => s.output().slice(-4000)).join("\n---\n")}`,
    );
  }

  async waitUntil(check: () => Promise<boolean>, timeoutMs = 30_000, what = "condition"): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  async journal(loopId: string): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    for (let after = 0; ;) {
      const page = await this.store.journal.list(loopId, { afterSeq: after, limit: 500 });
      out.push(...page.entries);
      if (!page.more || page.entries.length === 0) return out;
      after = page.entries[page.entries.length - 1]?.seq ?? after;
    }
  }

  /** The replicas a local executor knows of (run dirs under `stateDir`, by default this stack's state dir). */
  async replicas(stateDir = join(this.dir, "state")): Promise<ListedReplica[]> {
    const { LocalProcessExecutor } = await import("@smith/executor");
    return new LocalProcessExecutor({ stateDir, command: ["true"], env: {} }).list();
  }

  async close(): Promise<void> {
    for (const s of this.schedulers) {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGTERM");
    }
    await Promise.all(this.schedulers.map((s) => Promise.race([s.exited, new Promise((r) => setTimeout(r, 5000))])));
    for (const s of this.schedulers) if (s.child.exitCode === null) s.child.kill("SIGKILL");
    // Replicas outlive schedulers by design: stop any that remain in this test's state dirs.
    for (const stateDir of this.stateDirs) {
      try {
        const ex = new LocalProcessExecutor({ stateDir, command: ["true"], env: {}, stopGraceMs: 500 });
        for (const r of await ex.list()) if (r.status.phase === "running") await ex.stop(r.handle);
      } catch {
        // nothing started
      }
    }
    // Cleaned up: nothing for the exit safety net to do here any more.
    for (const s of this.schedulers) leftovers.children.delete(s.child);
    for (const stateDir of this.stateDirs) leftovers.stateDirs.delete(stateDir);
    await this.api.stop(200);
    this.store.close();
  }
}

/**
 * The API as a process of its own (`apps/api`), on a port that stays the same across restarts:
 * for a test that kills it with SIGKILL, as a crash would, and starts it again. Schedulers given
 * its `url` as SMITH_API_URL hand it to their replicas.
 */
export class ApiProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private out = "";

  private readonly stack: Stack;
  readonly port: number;
  private readonly env: Record<string, string>;

  private constructor(stack: Stack, port: number, env: Record<string, string>) {
    this.stack = stack;
    this.port = port;
    this.env = env;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts it on `port` (a free one when absent) and waits until it is ready. */
  static async start(stack: Stack, env: Record<string, string> = {}, port?: number): Promise<ApiProcess> {
    const api = new ApiProcess(stack, port ?? (await freePort()), env);
    await api.restart();
    return api;
  }

  /** Its stderr and stdout, for a failure message. */
  output(): string {
    return this.out;
  }

  /** kill -9, and waits for the exit. */
  async kill(): Promise<void> {
    if (this.child?.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Starts it (again, after kill()) on the same port and waits until /readyz answers 200. */
  async restart(timeoutMs = 30_000): Promise<void> {
    await this.kill();
    const child = spawn(process.execPath, [API_MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? this.stack.dir,
        SMITH_ETCD_ENDPOINTS: this.stack.endpoint,
        SMITH_ETCD_PREFIX: this.stack.prefix.replace(/\/$/, ""),
        SMITH_SIGNING_KEY: SIGNING_KEY,
        SMITH_ADMIN_TOKEN: ADMIN_TOKEN,
        SMITH_API_PORT: String(this.port),
        SMITH_ALLOW_LOCAL_REPOS: "true",
        SMITH_LOCK_TTL_MS: "3000",
        SMITH_LOG_LEVEL: "warn",
        ...this.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (b: Buffer) => {
      this.out = (this.out + b.toString()).slice(-50_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.child = child;
    killOnExit({ child });
    this.exited = new Promise((r) => child.once("exit", r));
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) return;
      // A port taken between freePort() and the bind: the process says so and exits.
      if (child.exitCode !== null || Date.now() > end)
        throw new Error(`the API process is not ready on ${this.url}:\n${this.out.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A fake agent CLI: an executable node script (on the test's Node via PATH). */
export function writeFakeAgent(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/usr/bin/env node\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}
