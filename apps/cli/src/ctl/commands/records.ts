import type { SmithClient } from "@smith/client";
import type { Command } from "../args.ts";
import { visibleLine } from "@smith/core";
import { auditStreamHeader, auditStreamRow, auditTable } from "../format/audit.ts";
import { costSummaryTable, loopCostTable } from "../format/cost.ts";
import { formatData, formatStreamItem } from "../format/output.ts";
import type { CtlIO } from "../io.ts";
import { listAudit } from "../pages.ts";
import { runStream } from "../stream.ts";

/** How many of the newest events `get audit -w` shows before it follows. */
const WATCH_RECENT = 20;

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

/** `get audit [--loop ID] [-w]`: the events, oldest first; with -w the newest few, then each new one until Ctrl-C. */
export async function getAudit(
  client: SmithClient,
  cmd: Extract<Command, { kind: "get-audit" }>,
  io: CtlIO,
): Promise<number> {
  if (!cmd.watch)
    return audit(client, { kind: "audit", output: cmd.output, ...(cmd.loopId ? { id: cmd.loopId } : {}) }, io);
  // A subscription retries an unreachable server forever; one query first fails fast and reports
  // a bad token, URL or loop id the way every other command does.
  await client.audit.list.query({ limit: 1, ...(cmd.loopId ? { loopId: cmd.loopId } : {}) });
  const output = cmd.output;
  let headerPrinted = false;
  return runStream(io, (finish) =>
    client.audit.watch.subscribe(
      { recent: WATCH_RECENT, ...(cmd.loopId ? { loopId: cmd.loopId } : {}) },
      {
        onStarted: () => {
          if (headerPrinted || output !== "table") return;
          headerPrinted = true;
          io.stdout(auditStreamHeader());
        },
        onData: ({ data }) => io.stdout(output === "table" ? auditStreamRow(data) : formatStreamItem(data, output)),
        onError: (err) => finish(err),
        onConnectionStateChange: (state) => {
          if (state.state === "connecting" && state.error)
            io.stderr(`watch: reconnecting after: ${visibleLine(state.error.message)}`);
        },
      },
    ),
  );
}
