import type { SmithClient } from "@smith/client";
import type { Command } from "../args.ts";
import { formatData } from "../format/output.ts";
import { traceText } from "../format/trace.ts";
import type { CtlIO } from "../io.ts";

/** `trace ID`: loop, journal, handoffs, overrides and audit from one API call (loops.trace). */
export async function trace(client: SmithClient, cmd: Extract<Command, { kind: "trace" }>, io: CtlIO): Promise<number> {
  const t = await client.loops.trace.query({ id: cmd.id });
  io.stdout(cmd.output === "table" ? traceText(t) : formatData(t, cmd.output));
  return 0;
}
