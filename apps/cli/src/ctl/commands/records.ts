import type { SmithClient } from "@smith/client";
import type { Command } from "../args.ts";
import { auditTable } from "../format/audit.ts";
import { costSummaryTable, loopCostTable } from "../format/cost.ts";
import { formatData } from "../format/output.ts";
import type { CtlIO } from "../io.ts";
import { listAudit } from "../pages.ts";

export async function audit(client: SmithClient, cmd: Extract<Command, { kind: "audit" }>, io: CtlIO): Promise<number> {
  const items = await listAudit(client, cmd.id);
  if (cmd.output !== "table") io.stdout(formatData({ items }, cmd.output));
  else if (items.length === 0) io.stderr("No audit events found.");
  else io.stdout(auditTable(items));
  return 0;
}

export async function cost(client: SmithClient, cmd: Extract<Command, { kind: "cost" }>, io: CtlIO): Promise<number> {
  if (cmd.id !== undefined) {
    const c = await client.cost.get.query({ loopId: cmd.id });
    io.stdout(cmd.output === "table" ? loopCostTable(c) : formatData(c, cmd.output));
  } else {
    const total = await client.cost.summary.query(cmd.states ? { state: cmd.states } : {});
    io.stdout(cmd.output === "table" ? costSummaryTable(total) : formatData(total, cmd.output));
  }
  return 0;
}
