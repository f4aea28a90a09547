import type { SmithClient } from "@smith/client";
import type { CreateLoopRequest } from "@smith/core";
import { resolve } from "node:path";
import type { Command } from "../args.ts";
import { buildCreateRequest, checkCreateRequest } from "../createRequest.ts";
import { batchResultTable, batchSummary } from "../format/batch.ts";
import { formatData } from "../format/output.ts";
import type { CtlIO } from "../io.ts";
import { parseLoopsFile } from "../loopsFile.ts";

export async function createLoop(
  client: SmithClient,
  cmd: Extract<Command, { kind: "create-loop" }>,
  io: CtlIO,
): Promise<number> {
  // The flags first (the PRD aside): a bad value is a usage error before any call.
  checkCreateRequest(buildCreateRequest({ ...cmd.flags, prdFile: undefined }, undefined));
  const text = cmd.flags.prdFile !== undefined ? readLocal(io, cmd.flags.prdFile, "--prd") : undefined;
  const prd = text === undefined ? undefined : await prdJson(client, text);
  const { loop, created } = await client.loops.create.mutate(buildCreateRequest(cmd.flags, prd));
  if (cmd.output !== "table") io.stdout(formatData(loop, cmd.output));
  else
    io.stdout(
      created
        ? `loop/${loop.id} created`
        : `loop/${loop.id} unchanged (idempotency key ${JSON.stringify(loop.idempotencyKey)} matched an existing loop)`,
    );
  return 0;
}

/** `create -f`: one createBatch call; exit 1 when any item failed. */
export async function createBatch(
  client: SmithClient,
  cmd: Extract<Command, { kind: "create-batch" }>,
  io: CtlIO,
): Promise<number> {
  const items = parseLoopsFile(readLocal(io, cmd.file, "-f"), cmd.file);
  // The file's items go to the server as they are: it validates every one and names the bad ones
  // (`items.<i>.…`), so checking them here too would only duplicate its rules.
  const { results } = await client.loops.createBatch.mutate({ items: items as CreateLoopRequest[] });
  if (cmd.output !== "table") {
    io.stdout(formatData({ results }, cmd.output));
  } else {
    io.stdout(batchResultTable(results));
    io.stdout(batchSummary(results));
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

function readLocal(io: CtlIO, path: string, flag: string): string {
  try {
    return io.readFile(resolve(io.cwd, path));
  } catch (err) {
    throw new Error(`cannot read ${flag} ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * A PRD as the API takes it inline: JSON (either shape) as it is; markdown converted by the API's
 * importer (prd.importMarkdown, which writes nothing), whose errors name what it could not read.
 */
async function prdJson(client: SmithClient, text: string): Promise<string> {
  if (text.trimStart().startsWith("{")) return text;
  return (await client.prd.importMarkdown.mutate({ markdown: text })).content;
}
