import {
  AgentProvider,
  CredentialType,
  LIMITS,
  LOOP_STATES,
  MAX_RETENTION_MS,
  RETENTION_MAX_PER_PASS,
  type LoopState,
} from "@smith/core";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { ConnectionFlags } from "./connection.ts";
import type { CreateLoopFlags } from "./createRequest.ts";
import { UsageError } from "./errors.ts";

/** `table` is each command's human form (a table, a description, a one-line confirmation). */
type Output = "table" | "wide" | "json" | "yaml";
type DataOutput = Exclude<Output, "wide">;

export type Command =
  | { kind: "help"; topic?: string }
  | { kind: "completion"; shell: CompletionShell }
  /** Hidden: what the completion scripts call for loop ids. */
  | { kind: "complete"; what: "loops" }
  | { kind: "get-loops"; output: Output; states?: LoopState[]; watch: boolean; limit?: number }
  | { kind: "get-loop"; id: string; output: Output }
  | { kind: "describe-loop"; id: string }
  | { kind: "create-loop"; flags: CreateLoopFlags; output: DataOutput }
  | { kind: "create-batch"; file: string; output: DataOutput }
  | { kind: "logs"; id: string; follow: boolean; sinceSeq?: number; tail?: number; output: DataOutput }
  | { kind: "replica-log"; id: string; maxBytes?: number; output: DataOutput }
  | { kind: "exec"; id: string; command: string[]; timeoutMs?: number; output: DataOutput }
  | { kind: "cancel" | "retry"; id: string; reason: string; output: DataOutput }
  | { kind: "steer"; id: string; message: string; output: DataOutput }
  | { kind: "answer"; id: string; answer: string; output: DataOutput }
  | { kind: "audit"; id?: string; output: DataOutput }
  | { kind: "cost"; id?: string; states?: LoopState[]; output: DataOutput }
  | { kind: "config-get-contexts"; output: DataOutput }
  | { kind: "config-current-context" }
  | { kind: "config-use-context"; name: string }
  | { kind: "config-set-context"; name: string; url?: string; token?: string; tokenFile?: string }
  | { kind: "version"; clientOnly: boolean; output: DataOutput }
  | { kind: "credentials-set"; set: CredentialSetFlags; source: ValueSource; output: DataOutput }
  | { kind: "credentials-rotate"; name: string; source: ValueSource; output: DataOutput }
  | { kind: "credentials-revoke"; name: string; output: DataOutput }
  | { kind: "credentials-list"; output: DataOutput }
  | { kind: "credentials-reseal"; output: DataOutput }
  | { kind: "get-audit"; loopId?: string; watch: boolean; output: DataOutput }
  | { kind: "override"; id: string; to: LoopState; reason: string; output: DataOutput }
  | { kind: "tokens-create"; name: string; role: TokenRoleName; expiresInDays?: number; output: DataOutput }
  | { kind: "tokens-list"; output: DataOutput }
  | { kind: "tokens-revoke"; id: string; output: DataOutput }
  | { kind: "delete-loops"; ids: string[]; reason?: string; output: DataOutput }
  | { kind: "cleanup"; states: LoopState[]; olderThanMs: number; dryRun: boolean; limit?: number; output: DataOutput }
  | { kind: "trace"; id: string; output: DataOutput }
  | { kind: "create-from-github"; ref: string; output: DataOutput }
  | { kind: "ingest-github"; repo: string; label?: string; output: DataOutput };

const TOKEN_ROLES = ["viewer", "operator", "admin"] as const;

export const COMPLETION_SHELLS = ["bash", "zsh", "fish"] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];
type TokenRoleName = (typeof TOKEN_ROLES)[number];

/** Where a credential's value comes from: never argv, where `ps` and shell history would keep it. */
export type ValueSource = { kind: "stdin" } | { kind: "file"; path: string } | { kind: "env"; name: string };

interface CredentialSetFlags {
  name: string;
  type: CredentialType;
  owner?: string;
  host?: string;
  default: boolean;
  appId?: number;
  installationId?: number;
  description?: string;
}

export interface ParsedArgs {
  command: Command;
  connection: ConnectionFlags;
}

const CONNECTION = {
  server: { type: "string" },
  token: { type: "string" },
  context: { type: "string" },
} as const satisfies ParseArgsOptionsConfig;
const HELP = { help: { type: "boolean", short: "h" } } as const satisfies ParseArgsOptionsConfig;
const OUTPUT = { output: { type: "string", short: "o" } } as const satisfies ParseArgsOptionsConfig;

/** The flags each verb accepts; anything else is a usage error that names the flag. */
const VERBS = {
  get: {
    ...CONNECTION,
    ...HELP,
    ...OUTPUT,
    state: { type: "string" },
    watch: { type: "boolean", short: "w" },
    limit: { type: "string" },
    loop: { type: "string" },
  },
  describe: { ...CONNECTION, ...HELP },
  create: {
    ...CONNECTION,
    ...HELP,
    ...OUTPUT,
    filename: { type: "string", short: "f" },
    "from-github": { type: "string" },
    repo: { type: "string" },
    base: { type: "string" },
    title: { type: "string" },
    prd: { type: "string" },
    "prd-path": { type: "string" },
    agent: { type: "string" },
    "agent-command": { type: "string" },
    "replay-dir": { type: "string" },
    "max-iterations": { type: "string" },
    priority: { type: "string" },
    "concurrency-key": { type: "string" },
    "idempotency-key": { type: "string" },
    model: { type: "string" },
    "max-cost": { type: "string" },
    gate: { type: "string", multiple: true },
    timeout: { type: "string" },
    "max-attempts": { type: "string" },
    label: { type: "string", multiple: true },
  },
  ingest: { ...CONNECTION, ...HELP, ...OUTPUT, label: { type: "string" } },
  logs: {
    ...CONNECTION,
    ...HELP,
    ...OUTPUT,
    follow: { type: "boolean", short: "f" },
    "since-seq": { type: "string" },
    tail: { type: "string" },
    replica: { type: "boolean" },
    "limit-bytes": { type: "string" },
  },
  cancel: { ...CONNECTION, ...HELP, ...OUTPUT, reason: { type: "string" } },
  retry: { ...CONNECTION, ...HELP, ...OUTPUT, reason: { type: "string" } },
  steer: { ...CONNECTION, ...HELP, ...OUTPUT, message: { type: "string", short: "m" } },
  answer: { ...CONNECTION, ...HELP, ...OUTPUT },
  audit: { ...CONNECTION, ...HELP, ...OUTPUT },
  cost: { ...CONNECTION, ...HELP, ...OUTPUT, state: { type: "string" } },
  // `config` talks to no server: --token here is the token a context stores.
  config: { ...HELP, ...OUTPUT, url: { type: "string" }, token: { type: "string" }, "token-file": { type: "string" } },
  version: { ...CONNECTION, ...HELP, ...OUTPUT, client: { type: "boolean" } },
  credentials: {
    ...CONNECTION,
    ...HELP,
    ...OUTPUT,
    type: { type: "string" },
    scope: { type: "string" },
    host: { type: "string" },
    "no-default": { type: "boolean" },
    "app-id": { type: "string" },
    "installation-id": { type: "string" },
    description: { type: "string" },
    "from-file": { type: "string" },
    "from-env": { type: "string" },
  },
  override: { ...CONNECTION, ...HELP, ...OUTPUT, to: { type: "string" }, reason: { type: "string" } },
  tokens: { ...CONNECTION, ...HELP, ...OUTPUT, role: { type: "string" }, "expires-in-days": { type: "string" } },
  delete: { ...CONNECTION, ...HELP, ...OUTPUT, reason: { type: "string" } },
  cleanup: {
    ...CONNECTION,
    ...HELP,
    ...OUTPUT,
    state: { type: "string" },
    "older-than": { type: "string" },
    "dry-run": { type: "boolean" },
    limit: { type: "string" },
  },
  trace: { ...CONNECTION, ...HELP, ...OUTPUT },
  exec: { ...CONNECTION, ...HELP, ...OUTPUT, timeout: { type: "string" } },
  completion: { ...HELP },
  __complete: { ...CONNECTION },
  help: { ...HELP },
} as const satisfies Record<string, ParseArgsOptionsConfig>;
type Verb = keyof typeof VERBS;

/** Global options that take a value and may come before the verb (`smithctl --server U get loops`). */
const VALUE_OPTIONS_BEFORE_VERB = new Set(["--server", "--token", "--context", "-o", "--output"]);

/** argv (without node and the script) → the command to run and the connection flags. */
export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  const verb = findVerb(argv);
  // Checked before parsing, whose errors quote arguments: a value typed on the command line must
  // not come back on the terminal (nor stay in `ps` output and shell history unremarked).
  if (verb === "credentials" && argv.some((a) => /^--value(=|$)/.test(a)))
    throw new UsageError(
      "credentials never take a value on the command line: pipe it to stdin, or use --from-file FILE or --from-env VAR",
    );
  if (verb === undefined) {
    if (argv.some((a) => a === "--help" || a === "-h") || argv.length === 0)
      return { command: { kind: "help" }, connection: {} };
    throw new UsageError(`no command given (${argv.join(" ")})`);
  }
  if (!isVerb(verb)) throw new UsageError(`unknown command ${JSON.stringify(verb)}`);
  const { values, positionals } = parse(argv, VERBS[verb]);
  const words = positionals.slice(1);
  const connection: ConnectionFlags = {};
  if ("server" in values && typeof values.server === "string") connection.server = values.server;
  if ("context" in values && typeof values.context === "string") connection.context = values.context;
  if (verb !== "config" && "token" in values && typeof values.token === "string") connection.token = values.token;
  if (values.help === true) return { command: { kind: "help", topic: verb }, connection };
  return { command: toCommand(verb, values, words, argv), connection };
}

type Values = Record<string, string | boolean | string[] | undefined>;

function toCommand(verb: Verb, values: Values, words: string[], argv: readonly string[]): Command {
  const str = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === "string" ? v : undefined;
  };
  const bool = (name: string): boolean => values[name] === true;
  switch (verb) {
    case "completion": {
      const [shell, ...extra] = words;
      noExtra(extra);
      const found = COMPLETION_SHELLS.find((s) => s === shell);
      if (!found)
        throw new UsageError(
          `completion needs a shell: ${COMPLETION_SHELLS.join(", ")}${shell !== undefined ? `; got ${JSON.stringify(shell)}` : ""}`,
        );
      return { kind: "completion", shell: found };
    }
    case "__complete": {
      const [what, ...extra] = words;
      noExtra(extra);
      if (what !== "loops") throw new UsageError(`__complete knows "loops"; got ${JSON.stringify(what ?? "")}`);
      return { kind: "complete", what };
    }
    case "help":
      noExtra(words.slice(1));
      return { kind: "help", ...(words[0] !== undefined ? { topic: words[0] } : {}) };
    case "get": {
      const [resource, id, ...extra] = words;
      if (resource === "audit") {
        noExtra(id === undefined ? extra : [id, ...extra]);
        for (const flag of ["state", "limit"])
          if (values[flag] !== undefined)
            throw new UsageError(`--${flag} lists loops; get audit takes --loop ID and -w`);
        const loopId = str("loop");
        return {
          kind: "get-audit",
          watch: bool("watch"),
          output: dataOutputOf(str("output")),
          ...(loopId !== undefined ? { loopId } : {}),
        };
      }
      if (str("loop") !== undefined) throw new UsageError("--loop filters audit events: smithctl get audit --loop ID");
      requireResource("get", resource);
      noExtra(extra);
      const output = outputOf(str("output"), ["table", "wide", "json", "yaml"]);
      if (id !== undefined) {
        for (const flag of ["state", "watch", "limit"])
          if (values[flag] !== undefined)
            throw new UsageError(`--${flag} lists loops; it cannot be used with a loop id`);
        return { kind: "get-loop", id, output };
      }
      const states = statesOf(str("state"));
      const limit = intOf("limit", str("limit"), 1);
      if (limit !== undefined && bool("watch")) throw new UsageError("--limit cannot be used with --watch");
      return {
        kind: "get-loops",
        output,
        watch: bool("watch"),
        ...(states ? { states } : {}),
        ...(limit !== undefined ? { limit } : {}),
      };
    }
    case "describe": {
      const [resource, id, ...extra] = words;
      requireResource("describe", resource);
      noExtra(extra);
      return { kind: "describe-loop", id: required(id, "describe loop needs a loop id: smithctl describe loop <id>") };
    }
    case "create": {
      const output = dataOutputOf(str("output"));
      const file = str("filename");
      if (file !== undefined) {
        const [resource, ...extra] = words;
        if (resource !== undefined && !isLoopResource(resource))
          throw new UsageError(`unexpected argument ${JSON.stringify(resource)}`);
        noExtra(extra);
        const loopFlags = Object.keys(values).filter(
          (k) =>
            k !== "filename" &&
            k !== "output" &&
            k !== "server" &&
            k !== "token" &&
            k !== "context" &&
            values[k] !== undefined,
        );
        if (loopFlags.length)
          throw new UsageError(`--${loopFlags[0]} cannot be used with -f: the file holds the loops`);
        return { kind: "create-batch", file, output };
      }
      const [resource, ...extra] = words;
      if (resource === undefined)
        throw new UsageError(
          "create needs a resource or a file: smithctl create loop --repo URL ... | smithctl create -f loops.yaml",
        );
      requireResource("create", resource);
      noExtra(extra);
      const fromGitHub = str("from-github");
      if (fromGitHub !== undefined) {
        // The issue is the loop's source: its repository, title and PRD come from GitHub.
        const others = Object.keys(values).filter(
          (k) => !["from-github", "output", "server", "token", "context"].includes(k) && values[k] !== undefined,
        );
        if (others.length)
          throw new UsageError(
            `--${others[0]} cannot be used with --from-github: the issue and the API's loop template give the loop`,
          );
        if (!/^[^/\s#]+\/[^/\s#]+#[1-9]\d{0,9}$/.test(fromGitHub))
          throw new UsageError(`--from-github must be an issue OWNER/REPO#N; got ${JSON.stringify(fromGitHub)}`);
        return { kind: "create-from-github", ref: fromGitHub, output };
      }
      return { kind: "create-loop", flags: createFlags(str, (name) => listOf(values[name])), output };
    }
    case "ingest": {
      const [source, repo, ...extra] = words;
      if (source !== "github")
        throw new UsageError("ingest needs a source: smithctl ingest github OWNER/REPO [--label L]");
      noExtra(extra);
      const r = required(repo, "ingest github needs a repository: smithctl ingest github OWNER/REPO [--label L]");
      if (!/^[^/\s#]+\/[^/\s#]+$/.test(r))
        throw new UsageError(`ingest github needs a repository OWNER/REPO; got ${JSON.stringify(r)}`);
      const label = str("label");
      return {
        kind: "ingest-github",
        repo: r,
        output: dataOutputOf(str("output")),
        ...(label !== undefined ? { label } : {}),
      };
    }
    case "logs": {
      const [id, ...extra] = words;
      noExtra(extra);
      if (bool("replica")) {
        for (const flag of ["follow", "since-seq", "tail"])
          if (values[flag] !== undefined)
            throw new UsageError(`--${flag} reads the journal; --replica reads the replica's own log`);
        const maxBytes = intOf("limit-bytes", str("limit-bytes"), 1);
        if (maxBytes !== undefined && maxBytes > 1024 * 1024)
          throw new UsageError(`--limit-bytes must be at most 1048576; got ${maxBytes}`);
        return {
          kind: "replica-log",
          id: required(id, "logs --replica needs a loop id: smithctl logs --replica <id>"),
          output: dataOutputOf(str("output")),
          ...(maxBytes !== undefined ? { maxBytes } : {}),
        };
      }
      if (str("limit-bytes") !== undefined) throw new UsageError("--limit-bytes goes with --replica");
      const sinceSeq = intOf("since-seq", str("since-seq"), 0);
      const tail = intOf("tail", str("tail"), 0);
      return {
        kind: "logs",
        id: required(id, "logs needs a loop id: smithctl logs <id>"),
        follow: bool("follow"),
        output: dataOutputOf(str("output")),
        ...(sinceSeq !== undefined ? { sinceSeq } : {}),
        ...(tail !== undefined ? { tail } : {}),
      };
    }
    case "cancel":
    case "retry": {
      const [id, ...extra] = words;
      noExtra(extra);
      return {
        kind: verb,
        id: required(id, `${verb} needs a loop id: smithctl ${verb} <id> --reason TEXT`),
        reason: required(str("reason"), `${verb} needs --reason TEXT`),
        output: dataOutputOf(str("output")),
      };
    }
    case "steer": {
      const [id, ...extra] = words;
      noExtra(extra);
      return {
        kind: "steer",
        id: required(id, "steer needs a loop id: smithctl steer <id> --message TEXT"),
        message: required(str("message"), "steer needs --message TEXT"),
        output: dataOutputOf(str("output")),
      };
    }
    case "answer": {
      const [id, answer, ...extra] = words;
      noExtra(extra);
      return {
        kind: "answer",
        id: required(id, 'answer needs a loop id: smithctl answer <id> "TEXT"'),
        answer: required(answer, 'answer needs the answer: smithctl answer <id> "TEXT"'),
        output: dataOutputOf(str("output")),
      };
    }
    case "audit": {
      const [id, ...extra] = words;
      noExtra(extra);
      return { kind: "audit", output: dataOutputOf(str("output")), ...(id !== undefined ? { id } : {}) };
    }
    case "cost": {
      const [id, ...extra] = words;
      noExtra(extra);
      const states = statesOf(str("state"));
      if (id !== undefined && states) throw new UsageError("--state sums over loops; it cannot be used with a loop id");
      return {
        kind: "cost",
        output: dataOutputOf(str("output")),
        ...(id !== undefined ? { id } : {}),
        ...(states ? { states } : {}),
      };
    }
    case "config":
      return configCommand(words, str);
    case "version":
      noExtra(words);
      return { kind: "version", clientOnly: bool("client"), output: dataOutputOf(str("output")) };
    case "credentials":
      return credentialsCommand(words, str, bool);
    case "override": {
      const [id, ...extra] = words;
      noExtra(extra);
      const to = required(str("to"), `override needs --to ${LOOP_STATES.join("|")}`);
      const state = LOOP_STATES.find((s) => s === to);
      if (!state) throw new UsageError(`--to must be one of ${LOOP_STATES.join(", ")}; got ${JSON.stringify(to)}`);
      return {
        kind: "override",
        id: required(id, "override needs a loop id: smithctl override <id> --to STATE --reason TEXT"),
        to: state,
        reason: required(str("reason"), "override needs --reason TEXT"),
        output: dataOutputOf(str("output")),
      };
    }
    case "tokens":
      return tokensCommand(words, str);
    case "delete": {
      const [resource, ...ids] = words;
      requireResource("delete", resource);
      if (ids.length === 0)
        throw new UsageError("delete loop needs at least one loop id: smithctl delete loop <id>...");
      if (ids.length > LIMITS.batchLoops)
        throw new UsageError(`delete loop takes at most ${LIMITS.batchLoops} loop ids; got ${ids.length}`);
      const reason = str("reason");
      return {
        kind: "delete-loops",
        ids,
        output: dataOutputOf(str("output")),
        ...(reason !== undefined ? { reason } : {}),
      };
    }
    case "cleanup": {
      noExtra(words);
      const states = statesOf(required(str("state"), "cleanup needs --state S[,S...] (synced, flatline, cancelled)"));
      const olderThanMs = durationOf(
        "older-than",
        required(str("older-than"), "cleanup needs --older-than DURATION (e.g. 30d, 12h)"),
      );
      const limit = intOf("limit", str("limit"), 1);
      if (limit !== undefined && limit > RETENTION_MAX_PER_PASS)
        throw new UsageError(`--limit must be at most ${RETENTION_MAX_PER_PASS}; got ${limit}`);
      return {
        kind: "cleanup",
        states: states ?? [],
        olderThanMs,
        dryRun: bool("dry-run"),
        output: dataOutputOf(str("output")),
        ...(limit !== undefined ? { limit } : {}),
      };
    }
    case "exec": {
      if (!argv.includes("--"))
        throw new UsageError("exec needs the command after --: smithctl exec <id> -- CMD [ARGS...]");
      const [id, ...command] = words;
      if (command.length === 0)
        throw new UsageError("exec needs a command after --: smithctl exec <id> -- CMD [ARGS...]");
      const timeout = str("timeout");
      const timeoutMs = timeout !== undefined ? durationMs("timeout", timeout) : undefined;
      if (timeoutMs !== undefined && (timeoutMs < 100 || timeoutMs > 60_000))
        throw new UsageError(`--timeout must be between 100ms and 60s; got ${JSON.stringify(timeout)}`);
      return {
        kind: "exec",
        id: required(id, "exec needs a loop id: smithctl exec <id> -- CMD"),
        command,
        output: dataOutputOf(str("output")),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      };
    }
    case "trace": {
      const [id, ...extra] = words;
      noExtra(extra);
      return {
        kind: "trace",
        id: required(id, "trace needs a loop id: smithctl trace <id>"),
        output: dataOutputOf(str("output")),
      };
    }
  }
}

function tokensCommand(words: string[], str: (name: string) => string | undefined): Command {
  const [sub, arg, ...extra] = words;
  noExtra(extra);
  const output = dataOutputOf(str("output"));
  const refuse = (what: string) => {
    for (const flag of ["role", "expires-in-days"])
      if (str(flag) !== undefined) throw new UsageError(`--${flag} cannot be used with tokens ${what}`);
  };
  switch (sub) {
    case "create": {
      const name = required(
        arg,
        "tokens create needs a NAME: smithctl tokens create NAME --role viewer|operator|admin",
      );
      const roleName = required(str("role"), `tokens create needs --role ${TOKEN_ROLES.join("|")}`);
      const role = TOKEN_ROLES.find((r) => r === roleName);
      if (!role)
        throw new UsageError(`--role must be one of ${TOKEN_ROLES.join(", ")}; got ${JSON.stringify(roleName)}`);
      const expiresInDays = intOf("expires-in-days", str("expires-in-days"), 1);
      if (expiresInDays !== undefined && expiresInDays > 3650)
        throw new UsageError(`--expires-in-days must be at most 3650; got ${expiresInDays}`);
      return { kind: "tokens-create", name, role, output, ...(expiresInDays !== undefined ? { expiresInDays } : {}) };
    }
    case "list":
      refuse("list");
      if (arg !== undefined) throw new UsageError("tokens list takes no argument");
      return { kind: "tokens-list", output };
    case "revoke":
      refuse("revoke");
      return {
        kind: "tokens-revoke",
        id: required(arg, "tokens revoke needs a token id: smithctl tokens revoke ID"),
        output,
      };
    case undefined:
      throw new UsageError("tokens needs a subcommand: create, list or revoke");
    default:
      throw new UsageError(`unknown tokens subcommand ${JSON.stringify(sub)}: use create, list or revoke`);
  }
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `30d`, `12h`, `90m`, `1.5h` → milliseconds (bounds are the caller's). */
function durationMs(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value.trim());
  const unit = m?.[2] !== undefined ? DURATION_UNITS[m[2]] : undefined;
  if (!m || unit === undefined)
    throw new UsageError(`--${flag} must be a duration such as 30d, 12h, 90m or 45s; got ${JSON.stringify(value)}`);
  return Math.round(Number(m[1]) * unit);
}

/** A duration within the retention window's bounds. */
function durationOf(flag: string, value: string): number {
  const ms = durationMs(flag, value);
  if (ms < 1) throw new UsageError(`--${flag} must be at least 1ms; got ${JSON.stringify(value)}`);
  if (ms > MAX_RETENTION_MS)
    throw new UsageError(`--${flag} must be at most 36500d (100 years); got ${JSON.stringify(value)}`);
  return ms;
}

const CREDENTIAL_SET_FLAGS = ["type", "scope", "host", "no-default", "app-id", "installation-id", "description"];

function credentialsCommand(
  words: string[],
  str: (name: string) => string | undefined,
  bool: (name: string) => boolean,
): Command {
  const [sub, name, ...extra] = words;
  // Never quote a stray argument: it may be the value typed where it does not belong.
  if (extra.length)
    throw new UsageError(
      `credentials ${sub ?? ""} takes one NAME; the value comes from stdin, --from-file FILE or --from-env VAR, never the command line`,
    );
  const output = dataOutputOf(str("output"));
  const refuse = (flags: string[], what: string) => {
    for (const flag of flags)
      if (flag === "no-default" ? bool(flag) : str(flag) !== undefined)
        throw new UsageError(`--${flag} cannot be used with credentials ${what}`);
  };
  const needName = (what: string) =>
    required(name, `credentials ${what} needs a NAME: smithctl credentials ${what} NAME`);
  const source = (): ValueSource => {
    const file = str("from-file");
    const env = str("from-env");
    if (file !== undefined && env !== undefined)
      throw new UsageError("--from-file and --from-env cannot be used together");
    if (file !== undefined) return { kind: "file", path: file };
    if (env !== undefined) return { kind: "env", name: env };
    return { kind: "stdin" };
  };
  switch (sub) {
    case "set": {
      const typeName = required(str("type"), `credentials set needs --type ${CredentialType.options.join("|")}`);
      const type = CredentialType.safeParse(typeName);
      if (!type.success)
        throw new UsageError(
          `--type must be one of ${CredentialType.options.join(", ")}; got ${JSON.stringify(typeName)}`,
        );
      const appId = intOf("app-id", str("app-id"), 1);
      const installationId = intOf("installation-id", str("installation-id"), 1);
      const set: CredentialSetFlags = { name: needName("set"), type: type.data, default: !bool("no-default") };
      const optional = {
        owner: str("scope"),
        host: str("host"),
        appId,
        installationId,
        description: str("description"),
      };
      for (const [k, v] of Object.entries(optional)) if (v !== undefined) Object.assign(set, { [k]: v });
      return { kind: "credentials-set", set, source: source(), output };
    }
    case "rotate":
      refuse(CREDENTIAL_SET_FLAGS, "rotate");
      return { kind: "credentials-rotate", name: needName("rotate"), source: source(), output };
    case "revoke":
      refuse([...CREDENTIAL_SET_FLAGS, "from-file", "from-env"], "revoke");
      return { kind: "credentials-revoke", name: needName("revoke"), output };
    case "list":
    case "reseal":
      refuse([...CREDENTIAL_SET_FLAGS, "from-file", "from-env"], sub);
      if (name !== undefined) throw new UsageError(`credentials ${sub} takes no NAME`);
      return sub === "list" ? { kind: "credentials-list", output } : { kind: "credentials-reseal", output };
    case undefined:
      throw new UsageError("credentials needs a subcommand: set, list, rotate, revoke or reseal");
    default:
      throw new UsageError(
        `unknown credentials subcommand ${JSON.stringify(sub)}: use set, list, rotate, revoke or reseal`,
      );
  }
}

function configCommand(words: string[], str: (name: string) => string | undefined): Command {
  const [sub, name, ...extra] = words;
  noExtra(extra);
  const onlyFlags = (allowed: string[]) => {
    for (const flag of ["url", "token", "token-file", "output"]) {
      if (!allowed.includes(flag) && str(flag) !== undefined)
        throw new UsageError(`--${flag} cannot be used with config ${sub ?? ""}`);
    }
  };
  switch (sub) {
    case "get-contexts":
      onlyFlags(["output"]);
      noExtra(name === undefined ? [] : [name]);
      return { kind: "config-get-contexts", output: dataOutputOf(str("output")) };
    case "current-context":
      onlyFlags([]);
      noExtra(name === undefined ? [] : [name]);
      return { kind: "config-current-context" };
    case "use-context":
      onlyFlags([]);
      return { kind: "config-use-context", name: required(name, "use-context needs a context name") };
    case "set-context": {
      onlyFlags(["url", "token", "token-file"]);
      const token = str("token");
      const tokenFile = str("token-file");
      if (token !== undefined && tokenFile !== undefined)
        throw new UsageError("--token and --token-file cannot be used together");
      const url = str("url");
      return {
        kind: "config-set-context",
        name: required(name, "set-context needs a context name: smithctl config set-context NAME --url URL"),
        ...(url !== undefined ? { url } : {}),
        ...(token !== undefined ? { token } : {}),
        ...(tokenFile !== undefined ? { tokenFile } : {}),
      };
    }
    case undefined:
      throw new UsageError("config needs a subcommand: get-contexts, current-context, use-context or set-context");
    default:
      throw new UsageError(
        `unknown config subcommand ${JSON.stringify(sub)}: use get-contexts, current-context, use-context or set-context`,
      );
  }
}

function listOf(v: Values[string]): string[] {
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

function createFlags(str: (name: string) => string | undefined, list: (name: string) => string[]): CreateLoopFlags {
  const repo = required(str("repo"), "create loop needs --repo URL");
  const prdFile = str("prd");
  const prdPath = str("prd-path");
  if (prdFile !== undefined && prdPath !== undefined)
    throw new UsageError("--prd and --prd-path cannot be used together");
  if (prdFile === undefined && prdPath === undefined)
    throw new UsageError(
      "create loop needs --prd FILE (a local PRD, sent inline) or --prd-path PATH (a PRD in the repository)",
    );
  const agentName = str("agent");
  let agent: AgentProvider | undefined;
  if (agentName !== undefined) {
    const parsed = AgentProvider.safeParse(agentName);
    if (!parsed.success)
      throw new UsageError(
        `--agent must be one of ${AgentProvider.options.join(", ")}; got ${JSON.stringify(agentName)}`,
      );
    agent = parsed.data;
  }
  const maxIterations = intOf("max-iterations", str("max-iterations"), 1);
  const priority = intOf("priority", str("priority"), 0);
  const maxAttempts = intOf("max-attempts", str("max-attempts"), 1);
  const maxCost = str("max-cost");
  if (maxCost !== undefined && !/^\d+(\.\d+)?$/.test(maxCost.trim()))
    throw new UsageError(`--max-cost must be an amount of USD such as 5 or 12.50; got ${JSON.stringify(maxCost)}`);
  const timeout = str("timeout");
  const labels: Record<string, string> = {};
  for (const pair of list("label")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--label must be KEY=VALUE; got ${JSON.stringify(pair)}`);
    // CreateLoopInput.labels' bounds; zod's own message for a record key does not say them.
    if (eq > 63) throw new UsageError(`--label: the key must be at most 63 characters; got ${eq}`);
    if (pair.length - eq - 1 > 256)
      throw new UsageError(`--label: the value must be at most 256 characters; got ${pair.length - eq - 1}`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const gates = list("gate");
  const optional = {
    base: str("base"),
    title: str("title"),
    prdFile,
    prdPath,
    agent,
    agentCommand: str("agent-command"),
    replayDir: str("replay-dir"),
    maxIterations,
    priority,
    concurrencyKey: str("concurrency-key"),
    idempotencyKey: str("idempotency-key"),
    model: str("model"),
    maxCostUsd: maxCost !== undefined ? Number(maxCost) : undefined,
    gates: gates.length ? gates : undefined,
    timeoutMs: timeout !== undefined ? durationMs("timeout", timeout) : undefined,
    maxAttempts,
    labels: Object.keys(labels).length ? labels : undefined,
  };
  const flags: CreateLoopFlags = { repo };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) Object.assign(flags, { [k]: v });
  return flags;
}

function parse(argv: readonly string[], options: ParseArgsOptionsConfig): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (err) {
    // node:util's messages name the flag: "Unknown option '--foo'", "Option '--reason <value>' argument missing".
    throw new UsageError(
      err instanceof Error
        ? err.message.replace(/\. To specify a positional argument starting with a '-'.*$/s, "")
        : String(err),
    );
  }
}

/** The first word that is not a flag or the value of a global flag. */
function findVerb(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--") return argv[i + 1];
    if (VALUE_OPTIONS_BEFORE_VERB.has(a)) {
      i++;
      continue;
    }
    if (!a.startsWith("-")) return a;
  }
  return undefined;
}

function isVerb(word: string): word is Verb {
  return Object.hasOwn(VERBS, word);
}

function isLoopResource(word: string): boolean {
  return word === "loop" || word === "loops";
}

function requireResource(verb: string, resource: string | undefined): void {
  if (resource === undefined)
    throw new UsageError(`${verb} needs a resource: smithctl ${verb} loop${verb === "get" ? "s" : ""} ...`);
  if (!isLoopResource(resource))
    throw new UsageError(
      `unknown resource ${JSON.stringify(resource)}: smithctl ${verb} knows "loop" / "loops"${verb === "get" ? ' and "audit"' : ""}`,
    );
}

function noExtra(extra: readonly string[]): void {
  if (extra.length) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
}

function required(value: string | undefined, message: string): string {
  if (value === undefined) throw new UsageError(message);
  return value;
}

function outputOf(value: string | undefined, allowed: readonly Output[]): Output {
  if (value === undefined) return "table";
  const found = allowed.find((a) => a === value);
  if (!found) throw new UsageError(`-o must be one of ${allowed.join(", ")}; got ${JSON.stringify(value)}`);
  return found;
}

function dataOutputOf(value: string | undefined): DataOutput {
  const o = outputOf(value, ["table", "json", "yaml"]);
  return o === "wide" ? "table" : o;
}

function statesOf(value: string | undefined): LoopState[] | undefined {
  if (value === undefined) return undefined;
  const states: LoopState[] = [];
  for (const part of value.split(",").map((s) => s.trim())) {
    const state = LOOP_STATES.find((s) => s === part);
    if (!state)
      throw new UsageError(
        `--state must be one of ${LOOP_STATES.join(", ")} (comma-separated); got ${JSON.stringify(part)}`,
      );
    if (!states.includes(state)) states.push(state);
  }
  return states;
}

function intOf(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${flag} must be a whole number${min > 0 ? ` ≥ ${min}` : ""}; got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** Each command (but the hidden ones) and the flags it takes, for the shell completion scripts. */
export function verbFlags(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [verb, options] of Object.entries(VERBS)) {
    if (verb.startsWith("__")) continue;
    out[verb] = Object.entries(options as ParseArgsOptionsConfig).flatMap(([name, o]) => [
      `--${name}`,
      ...(o.short ? [`-${o.short}`] : []),
    ]);
  }
  return out;
}
