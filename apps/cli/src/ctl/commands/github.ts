import type { SmithClient } from "@smith/client";
import { visibleLine } from "@smith/core";
import type { Command } from "../args.ts";
import { formatData } from "../format/output.ts";
import { renderTable } from "../format/table.ts";
import type { CtlIO } from "../io.ts";

/** `create loop --from-github OWNER/REPO#N`: the issue's loop (github.createFromIssue). */
export async function createFromGitHub(
  client: SmithClient,
  cmd: Extract<Command, { kind: "create-from-github" }>,
  io: CtlIO,
): Promise<number> {
  const r = await client.github.createFromIssue.mutate({ ref: cmd.ref });
  if (cmd.output !== "table") io.stdout(formatData(r, cmd.output));
  else if (r.kind === "loop-created") io.stdout(`loop/${r.loopId} created from ${cmd.ref}`);
  else if (r.kind === "loop-exists") io.stdout(`loop/${r.loopId} unchanged (${cmd.ref} already has its loop)`);
  else io.stdout(`${cmd.ref}: ${r.kind}`);
  return 0;
}

/** `ingest github OWNER/REPO [--label L]`: a loop per open labeled issue (github.ingest). */
export async function ingestGitHub(
  client: SmithClient,
  cmd: Extract<Command, { kind: "ingest-github" }>,
  io: CtlIO,
): Promise<number> {
  const r = await client.github.ingest.mutate({
    repo: cmd.repo,
    ...(cmd.label !== undefined ? { label: cmd.label } : {}),
  });
  if (cmd.output !== "table") {
    io.stdout(formatData(r, cmd.output));
    return 0;
  }
  const rows = r.results.map(({ ref, outcome }) => [
    ref,
    outcome.kind === "loop-created" ? "created" : outcome.kind === "loop-exists" ? "exists" : outcome.kind,
    "loopId" in outcome ? outcome.loopId : "",
  ]);
  if (rows.length) io.stdout(renderTable(["ISSUE", "OUTCOME", "LOOP"], rows));
  const created = r.results.filter((x) => x.outcome.kind === "loop-created").length;
  io.stdout(
    visibleLine(
      `${r.results.length} open issue${r.results.length === 1 ? "" : "s"} labeled ${r.label} in ${r.repo}: ${created} loop${created === 1 ? "" : "s"} created`,
    ),
  );
  return 0;
}
