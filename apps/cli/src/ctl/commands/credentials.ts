import type { SmithClient } from "@smith/client";
import type { Command, ValueSource } from "../args.ts";
import { UsageError } from "../errors.ts";
import { credentialsTable } from "../format/credentials.ts";
import { formatData } from "../format/output.ts";
import type { CtlIO } from "../io.ts";
import { resolve } from "node:path";

type Cmd<K extends Command["kind"]> = Extract<Command, { kind: K }>;

/**
 * Reads a credential's value from where the operator said: stdin, a file, or an environment
 * variable. Only surrounding whitespace is trimmed (a trailing newline from `echo` or a file).
 * Errors name the source, never its content.
 */
async function readValue(source: ValueSource, io: CtlIO): Promise<string> {
  let value: string | undefined;
  switch (source.kind) {
    case "file":
      try {
        value = io.readFile(resolve(io.cwd, source.path));
      } catch (err) {
        throw new UsageError(
          `cannot read ${source.path}: ${err instanceof Error && "code" in err ? String(err.code) : "unreadable"}`,
        );
      }
      break;
    case "env":
      value = io.getEnv(source.name);
      if (value === undefined) throw new UsageError(`--from-env: ${source.name} is not set`);
      break;
    case "stdin": {
      const input = await io.readStdin();
      if (input.tty) io.stderr("(the value was read from the terminal)");
      value = input.text;
      break;
    }
  }
  // A PEM key keeps its inner newlines; a token loses the newline a file or `echo` appended.
  const trimmed = value.trim();
  if (!trimmed)
    throw new UsageError(
      `the value is empty (${source.kind === "stdin" ? "nothing on stdin" : source.kind === "file" ? `${source.path} is empty` : `${source.name} is empty`})`,
    );
  return trimmed.includes("-----BEGIN") ? `${trimmed}\n` : trimmed;
}

export async function credentialsSet(client: SmithClient, cmd: Cmd<"credentials-set">, io: CtlIO): Promise<number> {
  const { set } = cmd;
  const value = await readValue(cmd.source, io);
  const created = await client.credentials.create.mutate({
    name: set.name,
    type: set.type,
    value,
    scope: {
      default: set.default,
      ...(set.owner !== undefined ? { owner: set.owner } : {}),
      ...(set.host !== undefined ? { host: set.host } : {}),
    },
    ...(set.appId !== undefined
      ? {
          app: {
            appId: set.appId,
            ...(set.installationId !== undefined ? { installationId: set.installationId } : {}),
          },
        }
      : {}),
    ...(set.description !== undefined ? { description: set.description } : {}),
  });
  io.stdout(cmd.output === "table" ? `credential/${created.name} created` : formatData(created, cmd.output));
  return 0;
}

export async function credentialsRotate(
  client: SmithClient,
  cmd: Cmd<"credentials-rotate">,
  io: CtlIO,
): Promise<number> {
  const value = await readValue(cmd.source, io);
  const rotated = await client.credentials.rotate.mutate({ name: cmd.name, value });
  io.stdout(cmd.output === "table" ? `credential/${rotated.name} rotated` : formatData(rotated, cmd.output));
  return 0;
}

export async function credentialsRevoke(
  client: SmithClient,
  cmd: Cmd<"credentials-revoke">,
  io: CtlIO,
): Promise<number> {
  const revoked = await client.credentials.revoke.mutate({ name: cmd.name });
  io.stdout(cmd.output === "table" ? `credential/${revoked.name} revoked` : formatData(revoked, cmd.output));
  return 0;
}

export async function credentialsList(client: SmithClient, cmd: Cmd<"credentials-list">, io: CtlIO): Promise<number> {
  const items = await client.credentials.list.query();
  if (cmd.output !== "table") io.stdout(formatData({ items }, cmd.output));
  else if (items.length === 0) io.stderr("No credentials found.");
  else io.stdout(credentialsTable(items, io.now()));
  return 0;
}

export async function credentialsReseal(
  client: SmithClient,
  cmd: Cmd<"credentials-reseal">,
  io: CtlIO,
): Promise<number> {
  const result = await client.credentials.reseal.mutate();
  if (cmd.output !== "table") io.stdout(formatData(result, cmd.output));
  else {
    io.stdout(`${result.resealed} re-sealed, ${result.current} already under the current key`);
    if (result.skipped.length) io.stderr(`changed meanwhile, run again: ${result.skipped.join(", ")}`);
  }
  return result.skipped.length ? 1 : 0;
}
