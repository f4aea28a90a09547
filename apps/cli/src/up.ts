import { handleMcpHttp } from "@smith/mcp";
import { ApiServer } from "@smith/api";
import { createSmithClient } from "@smith/client";
import type { JournalEntry, Loop } from "@smith/core";
import { createDemoRepository } from "@smith/demo";
import { LocalProcessExecutor, LocalReplicaInspector, ensureAgentUser, replicaEnv } from "@smith/executor";
import { createLogger, silentLogger } from "@smith/logger";
import { Scheduler } from "@smith/scheduler";
import { CredentialKeyring, SmithStore, plainTextEndpoints, type EtcdTls } from "@smith/store";
import { mkdirSync } from "node:fs";
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
   */
  agentUser?: string;
  /** On a terminal: the dashboard to open on the running stack; closing it stops the stack. */
  dashboard?: (connection: { url: string; token: string }) => Promise<number>;
}

const REPLICA_MAIN = resolve(fileURLToPath(import.meta.url), "../../../replica/src/main.ts");
/** Workspaces of agents run as another user: outside the state dir (under root's 0700 home). */
const AGENT_WORK_ROOT = "/var/lib/smith/workspaces";

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
      tls = etcdClientTls(certs);
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
          ...(o.agentUser !== undefined ? { workRoot: AGENT_WORK_ROOT } : {}),
        }),
      ],
    });
    stack.push({ name: "api", stop: () => api.stop(2_000), limitMs: 4_000 });
    const { url } = await guard(api.start({ port: o.apiPort, host: "127.0.0.1" }));
    // The demo's replay agent pauses between steps so that the run can be watched live.
    if (o.agentUser !== undefined && !ensureAgentUser(o.agentUser))
      throw new Error(`--agent-user ${o.agentUser}: only root can run agents as another user`);
    if (o.agentUser === undefined && process.getuid?.() === 0)
      o.out(
        "warning     running as root: agents run as root too and can read the state dir; --agent-user smith-agent runs them as an unprivileged user",
      );
    const replicaVars = {
      ...replicaEnv(o.env, url),
      ...(o.agentUser !== undefined ? { SMITH_AGENT_USER: o.agentUser } : {}),
      ...(o.demo && o.dashboard ? { SMITH_REPLAY_STEP_DELAY_MS: "700" } : {}),
    };
    const executor = (executorRef = new LocalProcessExecutor({
      stateDir: o.stateDir,
      command: [process.execPath, REPLICA_MAIN],
      env: replicaVars,
      stopGraceMs: 3_000,
      ...(o.agentUser !== undefined ? { workRoot: AGENT_WORK_ROOT } : {}),
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
