import { createSmithClient, type SmithClient } from "@smith/client";
import { parseCommandLine, type Command } from "./args.ts";
import { answer, override, transition, steer } from "./commands/actions.ts";
import { config } from "./commands/config.ts";
import { createBatch, createLoop } from "./commands/create.ts";
import {
  credentialsList,
  credentialsReseal,
  credentialsRevoke,
  credentialsRotate,
  credentialsSet,
} from "./commands/credentials.ts";
import { describeLoopCommand } from "./commands/describe.ts";
import { createFromGitHub, ingestGitHub } from "./commands/github.ts";
import { getLoop, getLoops } from "./commands/get.ts";
import { exec } from "./commands/exec.ts";
import { logs, replicaLog } from "./commands/logs.ts";
import { audit, cost, getAudit } from "./commands/records.ts";
import { cleanup, deleteLoops } from "./commands/retention.ts";
import { tokensCreate, tokensList, tokensRevoke } from "./commands/tokens.ts";
import { trace } from "./commands/trace.ts";
import { version } from "./commands/version.ts";
import { resolveConnection, type ConnectionFlags } from "./connection.ts";
import { loadContexts } from "./contexts.ts";
import { explainError } from "./errors.ts";
import { completeLoopIds } from "./commands/complete.ts";
import { completionScript } from "./completion.ts";
import { helpText } from "./help.ts";
import type { CtlIO } from "./io.ts";

/** smithctl: parses argv, runs the command, prints errors; resolves to the exit code. */
export async function runSmithctl(argv: readonly string[], io: CtlIO): Promise<number> {
  let serverUrl: string | undefined;
  const connect = (flags: ConnectionFlags): SmithClient => {
    const c = resolveConnection(flags, io.env, loadContexts(io.configPath), io.configPath);
    serverUrl = c.url;
    let token: string | undefined;
    if (c.token.kind === "value") token = c.token.value;
    else if (c.token.kind === "file") token = readTokenFile(io, c.token.path, c.contextName);
    return createSmithClient({ url: c.url, ...(token !== undefined ? { token } : {}) });
  };
  try {
    const { command, connection } = parseCommandLine(argv);
    switch (command.kind) {
      case "help":
        io.stdout(helpText(command.topic));
        return 0;
      case "config-get-contexts":
      case "config-current-context":
      case "config-use-context":
      case "config-set-context":
        return config(command, io);
      case "version":
        return await version(() => connect(connection), command, io);
      case "completion":
        io.stdout(completionScript(command.shell).trimEnd());
        return 0;
      case "complete":
        return await completeLoopIds(connect(connection), io);
      default:
        return await dispatch(connect(connection), command, io);
    }
  } catch (err) {
    const explained = explainError(err, serverUrl);
    for (const line of explained.lines) io.stderr(line);
    return explained.exitCode;
  }
}

type ServerCommand = Exclude<
  Command,
  {
    kind:
      | "help"
      | "completion"
      | "complete"
      | "version"
      | "config-get-contexts"
      | "config-current-context"
      | "config-use-context"
      | "config-set-context";
  }
>;

function dispatch(client: SmithClient, command: ServerCommand, io: CtlIO): Promise<number> {
  switch (command.kind) {
    case "get-loops":
      return getLoops(client, command, io);
    case "get-loop":
      return getLoop(client, command, io);
    case "describe-loop":
      return describeLoopCommand(client, command, io);
    case "create-loop":
      return createLoop(client, command, io);
    case "create-batch":
      return createBatch(client, command, io);
    case "logs":
      return logs(client, command, io);
    case "replica-log":
      return replicaLog(client, command, io);
    case "exec":
      return exec(client, command, io);
    case "cancel":
    case "retry":
      return transition(client, command, io);
    case "steer":
      return steer(client, command, io);
    case "answer":
      return answer(client, command, io);
    case "audit":
      return audit(client, command, io);
    case "cost":
      return cost(client, command, io);
    case "credentials-set":
      return credentialsSet(client, command, io);
    case "credentials-rotate":
      return credentialsRotate(client, command, io);
    case "credentials-revoke":
      return credentialsRevoke(client, command, io);
    case "credentials-list":
      return credentialsList(client, command, io);
    case "credentials-reseal":
      return credentialsReseal(client, command, io);
    case "get-audit":
      return getAudit(client, command, io);
    case "override":
      return override(client, command, io);
    case "tokens-create":
      return tokensCreate(client, command, io);
    case "tokens-list":
      return tokensList(client, command, io);
    case "tokens-revoke":
      return tokensRevoke(client, command, io);
    case "delete-loops":
      return deleteLoops(client, command, io);
    case "cleanup":
      return cleanup(client, command, io);
    case "trace":
      return trace(client, command, io);
    case "create-from-github":
      return createFromGitHub(client, command, io);
    case "ingest-github":
      return ingestGitHub(client, command, io);
  }
}

/**
 * The URL and token the smithctl precedence rules give (flags > --context > env > current
 * context), for other commands that talk to the API (`smith tui`).
 */
export function resolveEndpoint(
  flags: ConnectionFlags,
  io: Pick<CtlIO, "env" | "configPath" | "readFile">,
): { url: string; token?: string; contextName?: string } {
  const c = resolveConnection(flags, io.env, loadContexts(io.configPath), io.configPath);
  let token: string | undefined;
  if (c.token.kind === "value") token = c.token.value;
  else if (c.token.kind === "file") token = readTokenFile(io, c.token.path, c.contextName);
  return {
    url: c.url,
    ...(token !== undefined ? { token } : {}),
    ...(c.contextName !== undefined ? { contextName: c.contextName } : {}),
  };
}

function readTokenFile(io: Pick<CtlIO, "readFile">, path: string, contextName: string | undefined): string {
  try {
    return io.readFile(path).trim();
  } catch (err) {
    throw new Error(
      `cannot read the token file ${path}${contextName ? ` of context ${JSON.stringify(contextName)}` : ""}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}
