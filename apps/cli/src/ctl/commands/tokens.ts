import type { SmithClient } from "@smith/client";
import type { Command } from "../args.ts";
import { formatData } from "../format/output.ts";
import { tokensTable } from "../format/tokens.ts";
import type { CtlIO } from "../io.ts";

/**
 * `tokens create`: the token is shown this once, on stdout alone (so that `$(smithctl tokens
 * create ...)` captures exactly it); what was created goes to stderr.
 */
export async function tokensCreate(
  client: SmithClient,
  cmd: Extract<Command, { kind: "tokens-create" }>,
  io: CtlIO,
): Promise<number> {
  const { token, record } = await client.tokens.create.mutate({
    name: cmd.name,
    role: cmd.role,
    ...(cmd.expiresInDays !== undefined ? { expiresInDays: cmd.expiresInDays } : {}),
  });
  if (cmd.output !== "table") {
    io.stdout(formatData({ token, record }, cmd.output));
    return 0;
  }
  io.stdout(token);
  io.stderr(
    `token/${record.id} created (role ${record.role}${record.expiresAt ? `, expires ${record.expiresAt}` : ", no expiry"}): it is shown this once`,
  );
  return 0;
}

export async function tokensList(
  client: SmithClient,
  cmd: Extract<Command, { kind: "tokens-list" }>,
  io: CtlIO,
): Promise<number> {
  const items = await client.tokens.list.query();
  if (cmd.output !== "table") io.stdout(formatData({ items }, cmd.output));
  else if (items.length === 0) io.stderr("No tokens found.");
  else io.stdout(tokensTable(items, io.now()));
  return 0;
}

export async function tokensRevoke(
  client: SmithClient,
  cmd: Extract<Command, { kind: "tokens-revoke" }>,
  io: CtlIO,
): Promise<number> {
  const record = await client.tokens.revoke.mutate({ id: cmd.id });
  io.stdout(cmd.output === "table" ? `token/${record.id} revoked` : formatData(record, cmd.output));
  return 0;
}
