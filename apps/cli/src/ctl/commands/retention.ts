import type { SmithClient } from "@smith/client";
import type { Command } from "../args.ts";
import { formatData } from "../format/output.ts";
import { cleanupText, deleteLines } from "../format/retention.ts";
import type { CtlIO } from "../io.ts";

/** `delete loop ID...`: exit 1 when any id was not deleted (skipped or unknown), like kubectl. */
export async function deleteLoops(
  client: SmithClient,
  cmd: Extract<Command, { kind: "delete-loops" }>,
  io: CtlIO,
): Promise<number> {
  const { results } = await client.loops.delete.mutate({
    ids: cmd.ids,
    ...(cmd.reason !== undefined ? { reason: cmd.reason } : {}),
  });
  if (cmd.output !== "table") io.stdout(formatData({ results }, cmd.output));
  else {
    const { stdout, stderr } = deleteLines(results);
    for (const line of stdout) io.stdout(line);
    for (const line of stderr) io.stderr(line);
  }
  return results.every((r) => r.outcome === "deleted") ? 0 : 1;
}

export async function cleanup(
  client: SmithClient,
  cmd: Extract<Command, { kind: "cleanup" }>,
  io: CtlIO,
): Promise<number> {
  const report = await client.loops.cleanup.mutate({
    state: cmd.states,
    olderThanMs: cmd.olderThanMs,
    dryRun: cmd.dryRun,
    ...(cmd.limit !== undefined ? { limit: cmd.limit } : {}),
  });
  if (cmd.output !== "table") {
    io.stdout(formatData(report, cmd.output));
    return 0;
  }
  const { stdout, stderr } = cleanupText(report);
  for (const line of stdout) io.stdout(line);
  for (const line of stderr) io.stderr(line);
  return 0;
}
