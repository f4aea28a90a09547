import { handleMcpHttp } from "@smith/mcp";
import { ApiServer } from "@smith/api";
import { createSmithClient } from "@smith/client";
import { SmithError, type JournalEntry, type Loop } from "@smith/core";
import { createDemoRepository } from "@smith/demo";
import {
  DEFAULT_AGENT_USER,
  LocalProcessExecutor,
  LocalReplicaInspector,
  ensureAgentUser,
  replicaEnv,
} from "@smith/executor";
import { etcdTlsFromEnv, withSecrets } from "@smith/env";
import { createLogger, silentLogger } from "@smith/logger";
import { Scheduler } from "@smith/scheduler";
import { CredentialKeyring, SmithStore, plainTextEndpoints, type EtcdTls } from "@smith/store";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setContext } from "./config.ts";
import { etcdClientTls, loadOrCreateEtcdCerts } from "./etcdCerts.ts";
import { EtcdProcess } from "./etcdProcess.ts";
import { loadOrCreateSecrets } from "./secrets.ts";

export interface UpOptions {
  stateDir: string;
  /** External etcd endpoints; when absent a private etcd runs under the state dir. */
  etcd?: string[];
  etcdPort: number;
  apiPort: number;
  demo: boolean;
  configPath: string;
  /** Process env (replicas inherit PATH, agent binaries and provider keys from it). */
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  /** Resolves when the stack should stop (a signal). */
  stopSignal: Promise<string>;
  /**
   * Receives the function that kills at once, without waiting, what the stack started (its etcd,
   * the replicas): for a forced exit (a second signal).
   */
  onForcedExit?: (kill: () => void) => void;
  /** Exit once the demo loop finishes (non-interactive runs). */
  exitAfterDemo: boolean;
  verbose: boolean;
  /**
   * Run agents, gates and setup commands as this unprivileged user, created if missing (root
   * only; `--agent-user`). Workspaces then live in /var/lib/smith/workspaces, which it can enter.
   * Default: `smith-agent` when running as root, none otherwise (with a warning naming the
   * alternatives); `false` (`--no-agent-user`): none, also as root (with a warning).
   */
  agentUser?: string | false;
  /**
   * How many agent users (`--agent-pool`, default 4): the agent user and `<name>-2` ... `<name>-N`,
   * created if missing. Each running loop's agents get one no other running loop has (the local
   * executor hands them out), so concurrent loops cannot reach each other's workspaces or
   * processes; beyond N loops at once, users are shared.
   */
  agentPool?: number;
  /** On a terminal: the dashboard to open on the running stack; closing it stops the stack. */
  dashboard?: (connection: { url: string; token: string }) => Promise<number>;
}

const REPLICA_MAIN = resolve(fileURLToPath(import.meta.url), "../../../replica/src/main.ts");
/** Workspaces of agents run as another user: outside the state dir (under root's 0700 home). */
const AGENT_WORK_ROOT = "/var/lib/smith/workspaces";
/** Agent users `smith up` makes as root: one per loop running at once, up to this many. */
const DEFAULT_AGENT_POOL = 4;
const MAX_AGENT_POOL = 64;
/** Where `smith up` puts a node the agent user can run, when the one on PATH is out of its reach. */
const AGENT_BIN_DIR = "/var/lib/smith/bin";

/** Why the stack stops before its work is done: a signal (exit 0) or the death of its etcd (exit 1). */
interface Interruption {
  line: string;
  code: number;
}

class Interrupted extends Error {
  readonly interruption: Interruption;
  constructor(interruption: Interruption) {
    super(interruption.line);
    this.interruption = interruption;
  }
}

/** Resolves true when `work` settled within `ms`, false when it did not (it is left behind). */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

/**
 * `smith up`: the whole product on one machine, stopped in reverse order. It stops on a signal and
 * when its own etcd dies (exit 1), and every part's stop is bounded, whatever etcd is doing.
 */
export async function up(o: UpOptions): Promise<number> {
  mkdirSync(o.stateDir, { recursive: true });
  const secrets = loadOrCreateSecrets(o.stateDir);
  const stack: { name: string; stop: () => Promise<void> | void; limitMs: number }[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const part of stack.reverse()) {
        o.out(`stopping ${part.name}`);
        if (!(await within(Promise.resolve().then(part.stop), part.limitMs)))
          o.out(`stopping ${part.name}: not done after ${part.limitMs / 1000} s, going on`);
      }
    })());
  let interrupt: (i: Interruption) => void = () => undefined;
  const interrupted = new Promise<Interruption>((r) => (interrupt = r));
  void o.stopSignal.then((signal) => interrupt({ line: `received ${signal}`, code: 0 }));
  /** `work`, unless the stack is interrupted first (then Interrupted is thrown). */
  const guard = async <T>(work: Promise<T>): Promise<T> => {
    const r = await Promise.race([work.then((value) => ({ value })), interrupted.then((i) => ({ i }))]);
    if ("i" in r) throw new Interrupted(r.i);
    return r.value;
  };
  const agents = chooseAgentUser(o);
  const agentUser = agents?.name;
  let etcdProcess: EtcdProcess | undefined;
  let executorRef: LocalProcessExecutor | undefined;
  o.onForcedExit?.(() => {
    etcdProcess?.kill();
    executorRef?.signalAll("SIGKILL");
  });
  try {
    let endpoints = o.etcd;
    let tls: EtcdTls | undefined;
    if (!endpoints) {
      // TLS with client certificates: an agent that finds etcd's port cannot talk to it.
      const certs = loadOrCreateEtcdCerts(join(o.stateDir, "secrets"));
      // Its certificate names 127.0.0.1 and localhost: checked as localhost (an IP is no TLS server name).
      tls = { ...etcdClientTls(certs), serverName: "localhost" };
      const etcd = new EtcdProcess({
        dir: join(o.stateDir, "etcd"),
        clientPort: o.etcdPort,
        peerPort: o.etcdPort + 1,
        env: o.env,
        tls: certs,
      });
      etcdProcess = etcd;
      await etcd.start();
      stack.push({ name: "etcd", stop: () => etcd.stop(5_000), limitMs: 7_000 });
      // Nothing works without it: a stack whose etcd died stops (and says so) instead of retrying forever.
      void etcd.died.then((why) => interrupt({ line: `error       ${why}: stopping the stack`, code: 1 }));
      endpoints = [etcd.endpoint];
      o.out(`etcd        ${etcd.endpoint} (data in ${join(o.stateDir, "etcd")})`);
    } else {
      // An external etcd: its CA and a client certificate as the API and the schedulers take
      // them (SMITH_ETCD_CA/CERT/KEY, or their _FILE forms).
      tls = etcdTlsFromEnv(withSecrets(o.env, ["SMITH_ETCD_CA", "SMITH_ETCD_CERT", "SMITH_ETCD_KEY"]));
      o.out(
        `etcd        ${endpoints.join(", ")} (external${tls?.cert !== undefined ? ", with the client certificate of SMITH_ETCD_CERT" : ""})`,
      );
    }
    const plain = plainTextEndpoints(endpoints);
    if (plain.length)
      o.out(
        `warning     etcd ${plain.join(", ")} is plain HTTP: anyone who reaches it (an agent included) can read and rewrite every loop`,
      );
    const store = new SmithStore({ endpoints, ...(tls ? { tls } : {}) });
    stack.push({ name: "store", stop: () => store.close(), limitMs: 2_000 });
    // --verbose: the API's and the scheduler's records, debug and up, as JSON lines on stderr.
    const logger = (component: string) => (o.verbose ? createLogger({ component, level: "debug" }) : silentLogger);
    const api = new ApiServer({
      store,
      signingKey: secrets.signingKey,
      adminToken: secrets.adminToken,
      credentialsKeyring: CredentialKeyring.fromText(secrets.credentialsKey),
      logger: logger("api"),
      allowLocalRepos: true,
      mcp: handleMcpHttp,
      // The scheduler's executor below runs replicas from this state dir: the API reads them there.
      replicaInspectors: [
        new LocalReplicaInspector({
          stateDir: o.stateDir,
          ...(o.env.PATH !== undefined ? { path: o.env.PATH } : {}),
          ...(agentUser !== undefined ? { workRoot: AGENT_WORK_ROOT } : {}),
        }),
      ],
    });
    stack.push({ name: "api", stop: () => api.stop(2_000), limitMs: 4_000 });
    const { url } = await guard(api.start({ port: o.apiPort, host: "127.0.0.1" }));
    // The demo's replay agent pauses between steps so that the run can be watched live.
    const replicaVars = {
      ...replicaEnv(agents ? { ...o.env, PATH: agents.path } : o.env, url),
      // The executor gives each replica one user of the pool (this one is the default).
      ...(agentUser !== undefined ? { SMITH_AGENT_USER: agentUser } : {}),
      ...(o.demo && o.dashboard ? { SMITH_REPLAY_STEP_DELAY_MS: "700" } : {}),
    };
    const executor = (executorRef = new LocalProcessExecutor({
      stateDir: o.stateDir,
      command: [process.execPath, REPLICA_MAIN],
      env: replicaVars,
      stopGraceMs: 3_000,
      ...(agents !== undefined ? { workRoot: AGENT_WORK_ROOT, agentUsers: agents.pool } : {}),
    }));
    const scheduler = new Scheduler({
      store,
      executor,
      signingKey: secrets.signingKey,
      claim: { perKeyLimit: 2 },
      log: logger("scheduler"),
      startGraceMs: 30_000,
      reconcileIntervalMs: 2_000,
      pollIntervalMs: 1_000,
      // A loop's spec.notify.urls are announced, signed with the stack's own secret.
      notify: { secret: secrets.notifySecret },
    });
    stack.push({
      name: "scheduler and replicas",
      stop: async () => {
        // Its stop talks to etcd (resigning, revoking the lease): bounded, etcd may be gone.
        await within(scheduler.stop(), 5_000);
        // On one machine the replicas cannot outlive the stack (etcd and the API stop next):
        // stop them; their loops are retried on the next `smith up`.
        const running = (await executor.list()).filter((r) => r.status.phase === "running");
        await Promise.all(running.map((r) => executor.stop(r.handle)));
      },
      limitMs: 10_000,
    });
    await guard(scheduler.start());
    setContext(o.configPath, "local", { url, tokenFile: secrets.adminTokenFile });
    o.out(`api         ${url}`);
    o.out(`admin token ${secrets.adminTokenFile}`);
    o.out(`context     "local" written to ${o.configPath} (smithctl uses it)`);
    o.out(`state       ${o.stateDir}`);

    let code = 0;
    if (o.demo) {
      const demo = createDemoRepository(join(o.stateDir, "demo", new Date().toISOString().replace(/[:.]/g, "-")), {
        env: o.env,
      });
      const client = createSmithClient({ url, token: secrets.adminToken });
      const { loop } = await guard(
        client.loops.create.mutate({
          spec: {
            title: "demo: calc",
            repo: { url: demo.remoteUrl },
            prd: { kind: "path", path: demo.prdPath },
            agent: { provider: "replay", replayDir: demo.replayDir },
          },
        }),
      );
      o.out(`demo        loop ${loop.id} on ${demo.remoteUrl} (replay agent, 3 stories)`);
      if (o.dashboard) {
        await guard(o.dashboard({ url, token: secrets.adminToken }));
        o.out("stopping: the dashboard was closed");
        await stopAll();
        return 0;
      }
      const result = followDemo(client, loop.id, o.out);
      if (o.exitAfterDemo) {
        const finished = await guard(result);
        o.out(
          `demo        ${finished.status.state} (${finished.status.reason}): ${finished.status.progress.done}/${finished.status.progress.total} stories, branch smith/${finished.id} on ${demo.remoteUrl}`,
        );
        code = finished.status.state === "synced" ? 0 : 1;
        await stopAll();
        return code;
      }
      result.then(
        (l) => o.out(`demo        ${l.status.state} (${l.status.reason}); the stack keeps running: Ctrl-C to stop`),
        (err: unknown) =>
          o.out(`demo        lost track of the demo loop: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    if (o.dashboard) {
      await guard(o.dashboard({ url, token: secrets.adminToken }));
      o.out("stopping: the dashboard was closed");
      await stopAll();
      return code;
    }
    o.out("running     Ctrl-C to stop");
    const stop = await interrupted;
    o.out(stop.line);
    await stopAll();
    return stop.code;
  } catch (err) {
    // An error that etcd's death caused (a failed call, a dropped subscription) may arrive just
    // before the death itself is seen: the death is the story to tell.
    const interruption =
      err instanceof Interrupted
        ? err.interruption
        : await Promise.race([interrupted, new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))]);
    if (interruption) {
      o.out(interruption.line);
      await stopAll();
      return interruption.code;
    }
    await stopAll().catch(() => undefined);
    throw err;
  }
}

/**
 * Who runs the agents: as root, `smith-agent` (or `--agent-user NAME`), created if missing, so that
 * they cannot read the state dir, the secrets or the replica's environment; `--no-agent-user` keeps
 * them root. As another user there is no second user to switch to: one line names the
 * alternatives (docs/security.md). Throws a typed error for `--agent-user` without root.
 */
export function chooseAgentUser(
  o: Pick<UpOptions, "agentUser" | "agentPool" | "env" | "out">,
  uid: number | undefined = process.getuid?.(),
  binDir = AGENT_BIN_DIR,
): { name: string; path: string; pool: string[] } | undefined {
  const root = uid === 0;
  if (o.agentUser === false) {
    if (root)
      o.out(
        "warning     --no-agent-user as root: agents run as root and can read the state dir, the secrets and etcd's client key",
      );
    return undefined;
  }
  if (!root) {
    if (o.agentUser !== undefined)
      throw new SmithError(
        "invalid_argument",
        `--agent-user ${o.agentUser}: only root can run agents as another user (smith up runs as uid ${uid})`,
        { field: "agent-user" },
      );
    o.out(
      "warning     not root: agents run as this user and can read the state dir and its secrets; isolate them by running smith up as root (agents then run as smith-agent), in a container or VM of their own, or on Kubernetes (docs/security.md)",
    );
    return undefined;
  }
  const name = o.agentUser ?? DEFAULT_AGENT_USER;
  const size = o.agentPool ?? DEFAULT_AGENT_POOL;
  if (!Number.isInteger(size) || size < 1 || size > MAX_AGENT_POOL)
    throw new SmithError(
      "invalid_argument",
      `--agent-pool ${size}: must be a whole number from 1 to ${MAX_AGENT_POOL}`,
      {
        field: "agent-pool",
      },
    );
  const pool = [name, ...Array.from({ length: size - 1 }, (_, i) => `${name}-${i + 2}`)];
  for (const user of pool) {
    try {
      ensureAgentUser(user);
    } catch (err) {
      const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw new SmithError(
        "invalid_argument",
        `could not create the agent user ${user} (${why}): create it (useradd --system --user-group ${user}), name another with --agent-user, or pass --no-agent-user`,
        { field: "agent-user" },
      );
    }
  }
  const agentUid = Number(execFileSync("id", ["-u", "--", name], { encoding: "utf8" }).trim());
  const agentGid = Number(execFileSync("id", ["-g", "--", name], { encoding: "utf8" }).trim());
  o.out(
    `agents      run as ${name} (uid ${agentUid}): they cannot read the state dir, the secrets or the replica token`,
  );
  // The gates are the repository's commands (node --test in the demo) and run as that user too.
  const canRunNode = (path: string) =>
    spawnSync("/bin/sh", ["-c", "node --version"], {
      uid: agentUid,
      gid: agentGid,
      cwd: "/",
      env: { PATH: path },
      stdio: "ignore",
      timeout: 10_000,
    }).status === 0;
  const path = o.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
  const withPool = (p: string) => {
    if (pool.length > 1)
      o.out(`agents      one user per running loop: ${pool.join(", ")} (shared beyond ${pool.length} loops at once)`);
    return { name, path: p, pool };
  };
  if (canRunNode(path)) return withPool(path);
  // Typically the node that scripts/run.sh provisions under root's 0700 home: a copy of it (one
  // binary) in a directory the agent user can reach, at the end of its PATH.
  provideNode(binDir);
  const withCopy = `${path}:${binDir}`;
  if (canRunNode(withCopy)) {
    o.out(
      `agents      node for ${name}: ${join(binDir, "node")} (a copy of ${process.execPath}, which it cannot reach)`,
    );
    return withPool(withCopy);
  }
  o.out(
    `warning     ${name} cannot run node from this PATH (it cannot enter a directory of it, e.g. /root): gates and agents that need node will fail; install node where it can (/usr/local), or pass --no-agent-user`,
  );
  return withPool(path);
}

/** Copies this node binary to `<dir>/node` (0755, in a 0755 directory) unless an identical one is there. */
function provideNode(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const target = join(dir, "node");
  const source = statSync(process.execPath);
  const present = existsSync(target) ? statSync(target) : undefined;
  if (present?.size !== source.size || present.mtimeMs < source.mtimeMs) {
    const tmp = `${target}.${process.pid}`;
    copyFileSync(process.execPath, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, target);
  }
}

/** Prints the demo loop's journal as progress lines until it finishes. */
async function followDemo(
  client: ReturnType<typeof createSmithClient>,
  loopId: string,
  out: (line: string) => void,
): Promise<Loop> {
  return new Promise<Loop>((resolve, reject) => {
    const sub = client.journal.tail.subscribe(
      { loopId },
      {
        onData: ({ data }) => {
          const e = data as JournalEntry;
          if (e.level !== "debug")
            out(`  ${String(e.seq).padStart(4)} ${e.phase.padEnd(9)} ${e.message.split("\n")[0]?.slice(0, 160) ?? ""}`);
          if (
            e.phase === "finalize" ||
            (e.phase === "reconcile" && /flatline/.test(e.message)) ||
            (e.phase === "lifecycle" && /cancelled by/.test(e.message))
          ) {
            void (async () => {
              for (let i = 0; i < 50; i++) {
                const loop = await client.loops.get.query({ id: loopId });
                if (loop.status.state !== "running" && loop.status.state !== "unresolved") {
                  sub.unsubscribe();
                  resolve(loop);
                  return;
                }
                await new Promise((r) => setTimeout(r, 100));
              }
            })().catch((err: unknown) => {
              sub.unsubscribe();
              reject(err instanceof Error ? err : new Error(String(err)));
            });
          }
        },
        onError: (err) => reject(err instanceof Error ? err : new Error(String(err))),
      },
    );
  });
}
