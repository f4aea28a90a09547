import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { killOnExit, removeOnExit } from "./exitCleanup.ts";
import { OutputTail } from "./outputTail.ts";
import { freePorts } from "./ports.ts";

export interface StartEtcdOptions {
  /** Member name, passed as `--name`. Default `"smith-test"`. */
  name?: string;
  /** The etcd executable: a path, or a bare name looked up on PATH. Default `"etcd"`. */
  binary?: string;
  /** How long to wait for `/health` to report `{"health":"true"}`. Default 20 000 ms. */
  readyTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before it sends SIGKILL. Default 5 000 ms. */
  stopTimeoutMs?: number;
  /** How many fresh port pairs to try when a port is taken between probe and bind. Default 5. */
  portAttempts?: number;
  /** Extra etcd flags, appended after the harness's own. Default none. */
  extraArgs?: readonly string[];
}

export interface ResolvedStartEtcdOptions {
  name: string;
  binary: string;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
  portAttempts: number;
  extraArgs: readonly string[];
}

export function resolveStartEtcdOptions(options: StartEtcdOptions = {}): ResolvedStartEtcdOptions {
  return {
    name: options.name ?? "smith-test",
    binary: options.binary ?? "etcd",
    readyTimeoutMs: options.readyTimeoutMs ?? 20_000,
    stopTimeoutMs: options.stopTimeoutMs ?? 5_000,
    portAttempts: Math.max(1, options.portAttempts ?? 5),
    extraArgs: options.extraArgs ?? [],
  };
}

/** A real single-member etcd server on loopback, owned by a test. */
export interface EtcdServer {
  /** Client URL, `http://127.0.0.1:<clientPort>`. Stable across `restart()`. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** Process id of the current (or, once stopped, the last) etcd process. */
  readonly pid: number;
  /** Whether an etcd process is currently running for this handle. */
  readonly running: boolean;
  /** The tail of etcd's log (stderr), across restarts. */
  logs(): string;
  /** Graceful shutdown: SIGTERM, and SIGKILL if etcd has not exited after `stopTimeoutMs`. */
  stop(): Promise<void>;
  /** SIGKILL, to simulate a crash. */
  kill(): Promise<void>;
  /** Stops etcd if running and starts it again on the same data dir and the same ports. */
  restart(): Promise<void>;
  /** Stops etcd and removes its data dir; the handle cannot be restarted afterwards. */
  destroy(): Promise<void>;
}

/** Thrown when etcd does not become healthy; carries the tail of its log. */
export class EtcdStartError extends Error {
  readonly logs: string;
  readonly portInUse: boolean;

  constructor(message: string, logs: string) {
    super(logs === "" ? message : `${message}\n--- last lines of etcd's log ---\n${logs}`);
    this.name = "EtcdStartError";
    this.logs = logs;
    this.portInUse = logs.includes("address already in use");
  }
}

const INSTALL_HINT =
  "The Smith test harness runs a real etcd server. Install it with `apt-get install -y etcd-server` " +
  "(Debian/Ubuntu; provides /usr/bin/etcd), or put an etcd >= 3.4 binary from " +
  "https://github.com/etcd-io/etcd/releases on PATH.";

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Resolves `binary` the way a shell would: as given when it contains a slash, else via PATH. */
export async function findEtcdBinary(binary = "etcd"): Promise<string> {
  if (binary.includes("/")) {
    if (await isExecutableFile(binary)) return binary;
    throw new Error(`etcd binary ${binary} does not exist or is not executable. ${INSTALL_HINT}`);
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, binary);
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new Error(`${binary} was not found on PATH. ${INSTALL_HINT}`);
}

/** True when `GET <endpoint>/health` answers `{"health":"true"}` within `timeoutMs`. */
export async function isEtcdHealthy(endpoint: string, timeoutMs = 1_000): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.body?.cancel();
      return false;
    }
    const body: unknown = await response.json();
    return typeof body === "object" && body !== null && "health" in body && body.health === "true";
  } catch {
    return false;
  }
}

/**
 * True when the etcd answering at `endpoint` has a member advertising `peerUrl`. A server
 * whose client port was taken by another test's etcd (EADDRINUSE) must not mistake that
 * neighbour's healthy answer for its own; the peer URL tells them apart.
 */
async function servesMember(endpoint: string, peerUrl: string, timeoutMs = 1_000): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/v3/cluster/member/list`, {
      method: "POST",
      body: "{}",
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return false;
    }
    const body: unknown = await response.json();
    if (typeof body !== "object" || body === null || !("members" in body) || !Array.isArray(body.members)) return false;
    return body.members.some(
      (member: unknown) =>
        typeof member === "object" &&
        member !== null &&
        "peerURLs" in member &&
        Array.isArray(member.peerURLs) &&
        member.peerURLs.includes(peerUrl),
    );
  } catch {
    return false;
  }
}

interface EtcdLaunchConfig {
  binary: string;
  args: readonly string[];
  endpoint: string;
  peerUrl: string;
  readyTimeoutMs: number;
}

function etcdArgs(options: ResolvedStartEtcdOptions, dataDir: string, clientUrl: string, peerUrl: string): string[] {
  return [
    `--name=${options.name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${options.name}=${peerUrl}`,
    "--initial-cluster-state=new",
    // A per-server token, so that two test clusters can never mistake each other's peers.
    `--initial-cluster-token=smith-test-${randomBytes(4).toString("hex")}`,
    // zap: capnslog (3.4's default) is deprecated and prints a warning on every start.
    "--logger=zap",
    "--log-outputs=stderr",
    // --max-request-bytes deliberately left at etcd's default 1.5 MiB: tests rely on the real limit.
    ...options.extraArgs,
  ];
}

function etcdEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // etcd reads every flag from ETCD_<FLAG> too; a stray one in the developer's shell would
    // silently change the server under test.
    if (key.startsWith("ETCD_") && key !== "ETCD_UNSUPPORTED_ARCH") continue;
    env[key] = value;
  }
  // etcd 3.4 refuses to start on arm64 unless told that the platform is unsupported.
  if (process.arch === "arm64") env.ETCD_UNSUPPORTED_ARCH ??= "arm64";
  return env;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once `child` has exited, false if it is still running after `timeoutMs`. */
async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return true;
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  child.kill("SIGKILL");
  await waitForExit(child, 60_000);
}

/**
 * Spawns etcd and resolves once it reports healthy; on failure no process is left behind.
 * `log` collects the output of every launch of one server; errors quote only this launch's.
 */
async function launch(config: EtcdLaunchConfig, log: OutputTail): Promise<ChildProcess> {
  const tail = new OutputTail();
  const child = spawn(config.binary, config.args, { stdio: ["ignore", "ignore", "pipe"], env: etcdEnv() });
  killOnExit(child);
  child.stderr?.setEncoding("utf8");
  // Always drained, also after start: a full pipe would block etcd's logger and with it etcd.
  child.stderr?.on("data", (chunk: string) => {
    log.append(chunk);
    tail.append(chunk);
  });

  let failure: Error | undefined;
  child.once("error", (err) => {
    failure ??= new EtcdStartError(`could not spawn ${config.binary}: ${err.message}. ${INSTALL_HINT}`, tail.lines());
  });
  // 'close', not 'exit': only then has etcd's last (usually most telling) output been read.
  child.once("close", (code, signal) => {
    failure ??= new EtcdStartError(
      `etcd exited before becoming healthy (code ${code}, signal ${signal})`,
      tail.lines(),
    );
  });

  const deadline = Date.now() + config.readyTimeoutMs;
  for (;;) {
    if (failure !== undefined) throw failure;
    if ((await isEtcdHealthy(config.endpoint, 1_000)) && (await servesMember(config.endpoint, config.peerUrl))) {
      if (failure !== undefined) throw failure;
      return child;
    }
    if (Date.now() >= deadline) {
      await killAndWait(child);
      throw new EtcdStartError(
        `etcd at ${config.endpoint} was not healthy after ${config.readyTimeoutMs} ms`,
        tail.lines(),
      );
    }
    await sleep(50);
  }
}

/**
 * Starts a single-member etcd on free loopback ports with a fresh temporary data dir and waits
 * until it is healthy. The caller owns the server: call `destroy()` when done (the `etcdTest`
 * fixtures do this for you). Should a test forget, the process is killed and the data dir
 * removed when the test process exits.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const resolved = resolveStartEtcdOptions(options);
  const binary = await findEtcdBinary(resolved.binary);
  const dataDir = await mkdtemp(join(tmpdir(), "smith-etcd-"));
  const forgetDataDir = removeOnExit(dataDir);
  const log = new OutputTail();

  try {
    for (let attempt = 1; ; attempt++) {
      // Probed ports can be taken by someone else before etcd binds them (EADDRINUSE).
      const [clientPort, peerPort] = await freePorts(2);
      if (clientPort === undefined || peerPort === undefined) throw new Error("freePorts returned too few ports");
      const endpoint = `http://127.0.0.1:${clientPort}`;
      const peerUrl = `http://127.0.0.1:${peerPort}`;
      const config: EtcdLaunchConfig = {
        binary,
        args: etcdArgs(resolved, dataDir, endpoint, peerUrl),
        endpoint,
        peerUrl,
        readyTimeoutMs: resolved.readyTimeoutMs,
      };
      try {
        const child = await launch(config, log);
        return createHandle({
          config,
          child,
          log,
          dataDir,
          forgetDataDir,
          clientPort,
          peerPort,
          stopTimeoutMs: resolved.stopTimeoutMs,
        });
      } catch (err) {
        if (!(err instanceof EtcdStartError && err.portInUse) || attempt >= resolved.portAttempts) throw err;
        // Start the next attempt from an empty data dir, so no member state of the old ports survives.
        await rm(dataDir, { recursive: true, force: true });
        await mkdir(dataDir, { recursive: true });
      }
    }
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    forgetDataDir();
    throw err;
  }
}

interface HandleState {
  config: EtcdLaunchConfig;
  child: ChildProcess;
  log: OutputTail;
  dataDir: string;
  forgetDataDir: () => void;
  clientPort: number;
  peerPort: number;
  stopTimeoutMs: number;
}

function createHandle(state: HandleState): EtcdServer {
  const { config, log, dataDir, forgetDataDir, clientPort, peerPort, stopTimeoutMs } = state;
  let child: ChildProcess | undefined = state.child;
  let lastPid = state.child.pid ?? -1;
  let destroyed = false;

  // stop/kill/restart/destroy run one at a time: a fixture's teardown may race a test's own
  // restart(), and two spawns on the same ports would fight over them.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = queue.then(operation);
    queue = result.catch(() => undefined);
    return result;
  };

  const stopNow = async (): Promise<void> => {
    const current = child;
    child = undefined;
    if (current === undefined || hasExited(current)) return;
    current.kill("SIGTERM");
    if (!(await waitForExit(current, stopTimeoutMs))) await killAndWait(current);
  };

  const killNow = async (): Promise<void> => {
    const current = child;
    child = undefined;
    if (current !== undefined) await killAndWait(current);
  };

  const startAgain = async (): Promise<void> => {
    // The ports were ours a moment ago, but the kernel may hand one to another process's
    // port-0 probe in between; unlike at first start we cannot move, so wait and retry.
    for (let attempt = 1; ; attempt++) {
      log.append(`\n--- smith-testing: restarting etcd (attempt ${attempt}) ---\n`);
      try {
        child = await launch(config, log);
        lastPid = child.pid ?? -1;
        return;
      } catch (err) {
        if (!(err instanceof EtcdStartError && err.portInUse) || attempt >= 10) throw err;
        await sleep(200);
      }
    }
  };

  return {
    endpoint: config.endpoint,
    clientPort,
    peerPort,
    dataDir,
    get pid() {
      return lastPid;
    },
    get running() {
      return child !== undefined && !hasExited(child);
    },
    logs: () => log.text(),
    stop: () => serial(stopNow),
    kill: () => serial(killNow),
    restart: () =>
      serial(async () => {
        if (destroyed) throw new Error(`etcd at ${config.endpoint} was destroyed and cannot be restarted`);
        await stopNow();
        await startAgain();
      }),
    destroy: () =>
      serial(async () => {
        destroyed = true;
        await stopNow();
        await rm(dataDir, { recursive: true, force: true });
        forgetDataDir();
      }),
  };
}
