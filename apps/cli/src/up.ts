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

/** `smith up`: the whole product on one machine, stopped in reverse order. */
export async function up(o: UpOptions): Promise<number> {
  mkdirSync(o.stateDir, { recursive: true });
  const secrets = loadOrCreateSecrets(o.stateDir);
  const stack: { name: string; stop: () => Promise<void> | void }[] = [];
  const stopAll = async () => {
    for (const part of stack.reverse()) {
      o.out(`stopping ${part.name}`);
      await part.stop();
    }
  };
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
      await etcd.start();
      stack.push({ name: "etcd", stop: () => etcd.stop() });
      endpoints = [etcd.endpoint];
      o.out(`etcd        ${etcd.endpoint} (data in ${join(o.stateDir, "etcd")})`);
    }
    const plain = plainTextEndpoints(endpoints);
    if (plain.length)
      o.out(
        `warning     etcd ${plain.join(", ")} is plain HTTP: anyone who reaches it (an agent included) can read and rewrite every loop`,
      );
    const store = new SmithStore({ endpoints, ...(tls ? { tls } : {}) });
    stack.push({ name: "store", stop: () => store.close() });
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
    const { url } = await api.start({ port: o.apiPort, host: "127.0.0.1" });
    stack.push({ name: "api", stop: () => api.stop() });
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
    const executor = new LocalProcessExecutor({
      stateDir: o.stateDir,
      command: [process.execPath, REPLICA_MAIN],
      env: replicaVars,
      stopGraceMs: 3_000,
      ...(o.agentUser !== undefined ? { workRoot: AGENT_WORK_ROOT } : {}),
    });
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
    await scheduler.start();
    stack.push({
      name: "scheduler and replicas",
      stop: async () => {
        await scheduler.stop();
        // On one machine the replicas cannot outlive the stack (etcd and the API stop next):
        // stop them; their loops are retried on the next `smith up`.
        for (const r of await executor.list()) if (r.status.phase === "running") await executor.stop(r.handle);
      },
    });
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
      const { loop } = await client.loops.create.mutate({
        spec: {
          title: "demo: calc",
          repo: { url: demo.remoteUrl },
          prd: { kind: "path", path: demo.prdPath },
          agent: { provider: "replay", replayDir: demo.replayDir },
        },
      });
      o.out(`demo        loop ${loop.id} on ${demo.remoteUrl} (replay agent, 3 stories)`);
      if (o.dashboard) {
        const why = await Promise.race([
          o.stopSignal,
          o.dashboard({ url, token: secrets.adminToken }).then(() => "the dashboard was closed"),
        ]);
        o.out(`stopping: ${why}`);
        await stopAll();
        return 0;
      }
      const result = followDemo(client, loop.id, o.out);
      if (o.exitAfterDemo) {
        const finished = await Promise.race([result, o.stopSignal.then(() => undefined)]);
        if (finished) {
          o.out(
            `demo        ${finished.status.state} (${finished.status.reason}): ${finished.status.progress.done}/${finished.status.progress.total} stories, branch smith/${finished.id} on ${demo.remoteUrl}`,
          );
          code = finished.status.state === "synced" ? 0 : 1;
        }
        await stopAll();
        return code;
      }
      void result.then((l) =>
        o.out(`demo        ${l.status.state} (${l.status.reason}); the stack keeps running: Ctrl-C to stop`),
      );
    }
    if (o.dashboard) {
      const why = await Promise.race([
        o.stopSignal,
        o.dashboard({ url, token: secrets.adminToken }).then(() => "the dashboard was closed"),
      ]);
      o.out(`stopping: ${why}`);
      await stopAll();
      return code;
    }
    o.out("running     Ctrl-C to stop");
    const signal = await o.stopSignal;
    o.out(`received ${signal}`);
    await stopAll();
    return code;
  } catch (err) {
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
            })();
          }
        },
        onError: (err) => reject(err instanceof Error ? err : new Error(String(err))),
      },
    );
  });
}
