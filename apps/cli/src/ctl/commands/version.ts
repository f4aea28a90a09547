import type { SmithClient } from "@smith/client";
import { SMITH_VERSION } from "@smith/core";
import type { Command } from "../args.ts";
import { formatData } from "../format/output.ts";
import type { CtlIO } from "../io.ts";

/** The client's version, then the server's (health.version, which needs no token). */
export async function version(
  connect: () => SmithClient,
  cmd: Extract<Command, { kind: "version" }>,
  io: CtlIO,
): Promise<number> {
  const client = { version: SMITH_VERSION };
  if (cmd.clientOnly) {
    io.stdout(cmd.output === "table" ? `Client Version: ${client.version}` : formatData({ client }, cmd.output));
    return 0;
  }
  if (cmd.output === "table") io.stdout(`Client Version: ${client.version}`);
  // The client line comes first, so that it is printed even when the server cannot be reached.
  const server = await connect().health.version.query();
  io.stdout(
    cmd.output === "table"
      ? `Server Version: ${server.version} (API ${server.api})`
      : formatData({ client, server }, cmd.output),
  );
  return 0;
}
