import { endRecordedGroups } from "@smith/agents";
import {
  SmithError,
  type Executor,
  type ExecutorHandle,
  type ListedReplica,
  type ExecOptions,
  type ExecResult,
  type ReplicaInspector,
  type ReplicaLaunch,
  type ReplicaRuntime,
  type ReplicaStatus,
} from "@smith/core";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";

export interface LocalProcessExecutorOptions {
  /** Where replica run directories (record, exit code, log) live: `<stateDir>/replicas/<loop>-<attempt>/`. */
  stateDir: string;
  /** The replica command, e.g. `[process.execPath, "/path/to/apps/replica/src/main.ts"]`. */
  command: string[];
  /**
   * Environment for every replica (API URL, agent binaries...). The ids and the token file's path
   * are added per launch; the token itself never is (see start()).
   */
  env: Record<string, string>;
  /** Grace between SIGTERM and SIGKILL on stop (default 5 s). */
  stopGraceMs?: number;
  /**
   * Where workspaces go, as `<workRoot>/<loop>-<attempt>`, instead of `<run dir>/workspace`: for
   * agents that run as another user (SMITH_AGENT_USER), which cannot enter the 0700 run dirs.
   * Made 0711 (others may enter, not list). Every directory above it must let that user pass.
   */
  workRoot?: string;
  /**
   * The agent users (SMITH_AGENT_USER, a root scheduler): each replica gets one as its
   * SMITH_AGENT_USER, one that no live replica of this state dir has, so that concurrent loops'
   * agents are different users (neither can enter the other's workspace, read its files or signal
   * its processes). Before a user is handed out again, whatever it left running is killed (a
   * process the agent detached from its group outlives its run). When every user is busy, the
   * least busy one is shared (isolation between those loops then rests on the workspace modes
   * only); size the pool to the number of loops this host runs at once.
   */
  agentUsers?: readonly string[];
}

/** Names the state dir's executor instance; kept there so that a restarted scheduler is the same instance. */
const INSTANCE_FILE = "instance";
/** The replica token's file in a run dir: the replica reads it and removes it at start. */
const TOKEN_FILE = "token";
/**
 * Where the replica records the process groups of its agents, gates and setup commands
 * (SMITH_PROCESS_GROUPS_DIR; ProcessGroupRecords): each runs in a session of its own, which a
 * signal to the replica's group does not reach.
 */
const GROUPS_DIR = "children";

interface RunRecord {
  loopId: string;
  attempt: number;
  pid: number;
  startedAt: string;
  /** From /proc/<pid>/stat: guards against a reused pid. */
  startTicks?: string;
  /** The agent user this replica's agents run as (with `agentUsers`). */
  agentUser?: string;
}

/**
 * Runs each replica as a detached local process (its own process group), so that it survives a
 * restart of the scheduler that started it. A small shell wrapper writes the exit code to
 * `exit-code` when the replica ends, even when it was killed with SIGKILL, which gives `status()`
 * an exit record beyond "the pid is gone".
 *
 * The replica's agents, gates and setup commands run in sessions of their own (so that a timeout
 * kills each one's whole tree), out of reach of a signal to the replica's group. The replica
 * records them in `<run dir>/children` and ends them itself when it exits; when it dies without
 * doing so (SIGKILL, the OOM killer, a forced exit), `status()` (which the reconciler calls for
 * every replica on every pass), `stop()` and `signalAll("SIGKILL")` end the ones still running.
 */
export class LocalProcessExecutor implements Executor {
  readonly kind = "local";
  /**
   * This state dir's identity (host name + a random id made once): only an executor on the same
   * state dir can see, stop or judge the replicas it started.
   */
  readonly instance: string;
  private readonly options: LocalProcessExecutorOptions;
  private readonly root: string;

  constructor(options: LocalProcessExecutorOptions) {
    if (options.command.length === 0)
      throw new SmithError("invalid_argument", "the replica command is empty", { field: "command" });
    this.options = options;
    this.root = join(options.stateDir, "replicas");
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    // Run dirs hold tokens (for a moment), logs and workspaces: the owner's only, also when made earlier.
    chmodSync(this.root, 0o700);
    if (options.workRoot) {
      mkdirSync(options.workRoot, { recursive: true, mode: 0o711 });
      chmodSync(options.workRoot, 0o711);
    }
    this.instance = loadInstance(join(this.root, INSTANCE_FILE));
  }

  private dir(id: string): string {
    if (!/^[0-9a-z]{26}-\d+$/.test(id))
      throw new SmithError("invalid_argument", `not a local replica handle: ${id}`, { field: "handle.id" });
    return join(this.root, id);
  }

  /**
   * Starts the replica in its run dir. The token goes into `<run dir>/token` (mode 0600, outside
   * the workspace), never into an environment: a process's initial environment stays readable in
   * /proc/<pid>/environ for its whole life, to every process of the same user (an agent included).
   * The replica reads the file and removes it at start.
   */
  async start(launch: ReplicaLaunch): Promise<ExecutorHandle> {
    const id = `${launch.loop.id}-${launch.attempt}`;
    const dir = this.dir(id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const tokenFile = join(dir, TOKEN_FILE);
    // `wx` after removing any leftover: the file is created here, with its mode, never reused.
    rmSync(tokenFile, { force: true });
    writeFileSync(tokenFile, launch.token, { mode: 0o600, flag: "wx" });
    const log = openSync(join(dir, "replica.log"), "a");
    const agentUser = this.pickAgentUser();
    const quoted = this.options.command.map(shellQuote).join(" ");
    // `exec` is not used: the shell stays as the group leader and records the exit code.
    const script = `${quoted}; echo $? > ${shellQuote(join(dir, "exit-code"))}`;
    try {
      const child = spawn("/bin/sh", ["-c", script], {
        cwd: dir,
        detached: true,
        stdio: ["ignore", log, log],
        env: {
          ...this.options.env,
          SMITH_LOOP_ID: launch.loop.id,
          SMITH_ATTEMPT: String(launch.attempt),
          SMITH_TOKEN_FILE: tokenFile,
          SMITH_RUN_DIR: dir,
          SMITH_PROCESS_GROUPS_DIR: join(dir, GROUPS_DIR),
          ...(this.options.workRoot ? { SMITH_WORK_DIR: join(this.options.workRoot, id) } : {}),
          ...(agentUser !== undefined ? { SMITH_AGENT_USER: agentUser } : {}),
        },
      });
      const pid = child.pid;
      if (pid === undefined) throw new SmithError("internal", `could not start the replica for ${id}`);
      child.unref();
      const record: RunRecord = {
        loopId: launch.loop.id,
        attempt: launch.attempt,
        pid,
        startedAt: new Date().toISOString(),
        startTicks: startTicks(pid),
        ...(agentUser !== undefined ? { agentUser } : {}),
      };
      writeFileSync(join(dir, "record.json"), JSON.stringify(record));
      return { kind: this.kind, id, instance: this.instance };
    } finally {
      closeSync(log);
    }
  }

  /**
   * The pool's user with the fewest live replicas of this state dir (the first such, so that a
   * quiet host keeps using the same few). A user no live replica has is first rid of whatever it
   * still runs. Synchronous from the read to the record's write in start(): two starts of this
   * executor never pick the same free user.
   */
  private pickAgentUser(): string | undefined {
    const pool = this.options.agentUsers;
    if (!pool || pool.length === 0) return undefined;
    const busy = new Map<string, number>();
    for (const name of readdirSync(this.root)) {
      if (name === INSTANCE_FILE) continue;
      const record = readRecord(join(this.root, name));
      if (record?.agentUser !== undefined && isAlive(record))
        busy.set(record.agentUser, (busy.get(record.agentUser) ?? 0) + 1);
    }
    let best = pool[0] as string;
    for (const user of pool) if ((busy.get(user) ?? 0) < (busy.get(best) ?? 0)) best = user;
    if ((busy.get(best) ?? 0) === 0) killAllOf(best);
    return best;
  }

  async status(handle: ExecutorHandle): Promise<ReplicaStatus> {
    if (handle.kind !== this.kind) return { phase: "unknown", message: `not a ${this.kind} handle` };
    if (handle.instance !== undefined && handle.instance !== this.instance)
      return { phase: "unknown", message: `started by executor ${handle.instance}, not this one` };
    const dir = this.dir(handle.id);
    const record = readRecord(dir);
    if (!record) return { phase: "unknown", message: "no run record" };
    // Alive first, the exit record second: the wrapper writes the record and then exits, so a
    // wrapper seen gone has written it (read in the other order, a replica ending between the
    // two reads would look gone without one).
    const alive = isAlive(record);
    const exit = readExit(dir);
    // The replica has ended (an exit record means the wrapper saw it exit): what it left running
    // is nobody's now. Cheap and idempotent: the records go with their groups.
    if (!alive || exit !== undefined) endRecordedGroups(join(dir, GROUPS_DIR));
    if (exit !== undefined)
      return exit === 0 ? { phase: "succeeded", exitCode: 0 } : { phase: "failed", exitCode: exit };
    if (alive) return { phase: "running" };
    return { phase: "failed", message: "the replica process is gone without an exit record" };
  }

  /**
   * SIGTERM to the replica's whole process group (the replica then stops its commands' groups),
   * SIGKILL after the grace period; then SIGKILL to the commands' groups still running.
   */
  async stop(handle: ExecutorHandle): Promise<void> {
    if (handle.kind !== this.kind || (handle.instance !== undefined && handle.instance !== this.instance)) return;
    const dir = this.dir(handle.id);
    const record = readRecord(dir);
    if (!record) return;
    if (isAlive(record)) {
      signalGroup(record.pid, "SIGTERM");
      const deadline = Date.now() + (this.options.stopGraceMs ?? 5_000);
      while (Date.now() < deadline && groupAlive(record.pid)) await new Promise((r) => setTimeout(r, 100));
      if (groupAlive(record.pid)) signalGroup(record.pid, "SIGKILL");
    }
    endRecordedGroups(join(dir, GROUPS_DIR));
  }

  /**
   * Sends `signal` to the process group of every live replica of this state dir at once, without
   * waiting: for a forced exit (`smith up` on a second signal), where stop()'s grace is too long.
   * SIGKILL also goes to their commands' groups (a killed replica cannot end them itself).
   */
  signalAll(signal: NodeJS.Signals): void {
    for (const name of readdirSync(this.root)) {
      if (name === INSTANCE_FILE) continue;
      const dir = join(this.root, name);
      const record = readRecord(dir);
      if (record && isAlive(record)) signalGroup(record.pid, signal);
      if (record && signal === "SIGKILL") endRecordedGroups(join(dir, GROUPS_DIR));
    }
  }

  async list(): Promise<ListedReplica[]> {
    const out: ListedReplica[] = [];
    for (const name of readdirSync(this.root)) {
      if (name === INSTANCE_FILE) continue;
      const record = readRecord(join(this.root, name));
      if (!record) continue;
      const handle = { kind: this.kind, id: name, instance: this.instance };
      out.push({ handle, loopId: record.loopId, attempt: record.attempt, status: await this.status(handle) });
    }
    return out;
  }

  /** The replica's log file, for `smithctl logs --replica` and debugging. */
  logPath(handle: ExecutorHandle): string {
    return join(this.dir(handle.id), "replica.log");
  }
}

/**
 * Reads the replicas of a local executor's state dir without starting or stopping any: for an API
 * process on the same machine (`smith up`, or SMITH_STATE_DIR on the API), which serves
 * `loops.runtime` and `loops.replicaLog` for this state dir's replicas.
 */
export class LocalReplicaInspector implements ReplicaInspector {
  readonly kind = "local";
  readonly instance: string;
  private readonly root: string;

  private readonly workRoot: string | undefined;

  private readonly path: string;

  /**
   * `workRoot`: the executor's own (workspaces live there, not in the run dirs, when it is set).
   * `path`: the PATH of commands run by exec (default /usr/local/bin:/usr/bin:/bin).
   */
  constructor(options: { stateDir: string; workRoot?: string; path?: string }) {
    this.workRoot = options.workRoot;
    this.path = options.path ?? "/usr/local/bin:/usr/bin:/bin";
    this.root = join(options.stateDir, "replicas");
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    this.instance = loadInstance(join(this.root, INSTANCE_FILE));
  }

  private dir(handle: ExecutorHandle): string | undefined {
    if (handle.kind !== this.kind || (handle.instance !== undefined && handle.instance !== this.instance))
      return undefined;
    if (!/^[0-9a-z]{26}-\d+$/.test(handle.id))
      throw new SmithError("invalid_argument", `not a local replica handle: ${handle.id}`, { field: "handle.id" });
    return join(this.root, handle.id);
  }

  async inspect(handle: ExecutorHandle): Promise<ReplicaRuntime | undefined> {
    const dir = this.dir(handle);
    const record = dir ? readRecord(dir) : undefined;
    if (!dir || !record) return undefined;
    const alive = isAlive(record);
    const exit = readExit(dir);
    const base = { node: hostname(), pid: record.pid, startedAt: record.startedAt };
    if (exit !== undefined) return { ...base, phase: exit === 0 ? "succeeded" : "failed", exitCode: exit };
    if (alive) return { ...base, phase: "running" };
    return { ...base, phase: "failed", message: "the replica process is gone without an exit record" };
  }

  /**
   * Runs `command` (argv, no shell) in the replica's workspace with a minimal environment (no
   * token, no credential: only PATH and HOME), killed at its timeout, its output capped.
   */
  async exec(handle: ExecutorHandle, command: readonly string[], options: ExecOptions): Promise<ExecResult> {
    const dir = this.dir(handle);
    const [file, ...args] = command;
    if (!dir || !readRecord(dir) || file === undefined)
      throw new SmithError("not_found", `no run directory for replica ${handle.id} on this host`, { field: "handle" });
    const cwd = this.workRoot ? join(this.workRoot, handle.id) : join(dir, "workspace");
    if (!existsSync(cwd))
      throw new SmithError("not_found", `replica ${handle.id} has no workspace yet`, { field: "handle" });
    const started = Date.now();
    return new Promise<ExecResult>((resolve) => {
      const out = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
      let truncated = false;
      let timedOut = false;
      const child = spawn(file, args, {
        cwd,
        env: { PATH: this.path, HOME: cwd },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      const take = (which: "stdout" | "stderr") => (chunk: Buffer) => {
        const room = options.maxOutputBytes - out[which].length;
        if (chunk.length > room) truncated = true;
        if (room > 0) out[which] = Buffer.concat([out[which], chunk.subarray(0, room)]);
      };
      child.stdout.on("data", take("stdout"));
      child.stderr.on("data", take("stderr"));
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
      }, options.timeoutMs);
      const finish = (exitCode: number | null, error?: string) => {
        clearTimeout(timer);
        resolve({
          exitCode,
          stdout: out.stdout.toString("utf8"),
          stderr: error ?? out.stderr.toString("utf8"),
          truncated,
          timedOut,
          durationMs: Date.now() - started,
        });
      };
      child.on("error", (err) => finish(null, `cannot run ${file}: ${err.message}`));
      child.on("close", (code) => finish(code));
    });
  }

  async readLog(
    handle: ExecutorHandle,
    maxBytes: number,
  ): Promise<{ text: string; truncated: boolean; bytes: number }> {
    const dir = this.dir(handle);
    if (!dir || !readRecord(dir))
      throw new SmithError("not_found", `no run directory for replica ${handle.id} on this host`, { field: "handle" });
    const file = join(dir, "replica.log");
    if (!existsSync(file)) return { text: "", truncated: false, bytes: 0 };
    const size = statSync(file).size;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buf, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return { text: buf.toString("utf8"), truncated: size > length, bytes: size };
  }
}

function loadInstance(file: string): string {
  try {
    const existing = readFileSync(file, "utf8").trim();
    if (existing) return existing;
  } catch {
    // First start on this state dir.
  }
  const instance = `${hostname()}/${randomBytes(6).toString("hex")}`.slice(0, 256);
  // `wx`: two executors opening a fresh state dir at once agree on the first one's id.
  try {
    writeFileSync(file, instance, { flag: "wx" });
    return instance;
  } catch {
    return readFileSync(file, "utf8").trim();
  }
}

function readRecord(dir: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "record.json"), "utf8")) as RunRecord;
  } catch {
    return undefined;
  }
}

function readExit(dir: string): number | undefined {
  const file = join(dir, "exit-code");
  if (!existsSync(file)) return undefined;
  // Empty while the wrapper is writing it: not an exit code yet (Number("") would be 0).
  const text = readFileSync(file, "utf8").trim();
  return /^\d{1,3}$/.test(text) ? Number(text) : undefined;
}

function startTicks(pid: number): string | undefined {
  try {
    // Field 22 of /proc/<pid>/stat is the start time; the command name (field 2) may contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function isAlive(record: RunRecord): boolean {
  try {
    process.kill(record.pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead (its parent may be gone, and PID 1 in a container may never reap it).
  if (procState(record.pid) === "Z") return false;
  // The pid may have been reused by an unrelated process since.
  return record.startTicks === undefined || startTicks(record.pid) === record.startTicks;
}

function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * SIGKILL to every process of `user` (`kill -1` run as that user reaches exactly the processes it
 * may signal: its own). Only for a pool user no live replica has.
 */
function killAllOf(user: string): void {
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync("id", ["-u", "--", user], { encoding: "utf8" }).trim());
    gid = Number(execFileSync("id", ["-g", "--", user], { encoding: "utf8" }).trim());
  } catch {
    throw new SmithError("invalid_argument", `SMITH_AGENT_USER: no user ${JSON.stringify(user)} on this host`, {
      field: "SMITH_AGENT_USER",
    });
  }
  // Never as root: kill(-1) there would be every process of the host.
  if (!Number.isInteger(uid) || uid <= 0 || process.getuid?.() !== 0) return;
  spawnSync("/bin/sh", ["-c", "kill -9 -1"], { uid, gid, cwd: "/", env: {}, stdio: "ignore", timeout: 10_000 });
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
