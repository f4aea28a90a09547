import type { SmithClient } from "@smith/client";
import { visibleText } from "@smith/core";
import type { Command } from "../args.ts";
import { formatData } from "../format/output.ts";
import type { CtlIO } from "../io.ts";

/**
 * `exec ID -- CMD`: runs in the replica's workspace through the API (loops.exec); its stdout and
 * stderr come back on ours, with control characters made visible, and its exit code is ours
 * (1 when it was killed at its timeout or could not start).
 */
export async function exec(client: SmithClient, cmd: Extract<Command, { kind: "exec" }>, io: CtlIO): Promise<number> {
  const r = await client.loops.exec.mutate({
    id: cmd.id,
    command: cmd.command,
    ...(cmd.timeoutMs !== undefined ? { timeoutMs: cmd.timeoutMs } : {}),
  });
  if (cmd.output !== "table") {
    io.stdout(formatData(r, cmd.output));
    return 0;
  }
  if (r.stdout) io.stdout(visibleText(r.stdout).replace(/\n$/, ""));
  if (r.stderr) io.stderr(visibleText(r.stderr).replace(/\n$/, ""));
  if (r.truncated) io.stderr("(output cut at 64 KiB)");
  if (r.timedOut) io.stderr(`(killed after ${r.durationMs} ms: --timeout)`);
  return r.exitCode ?? 1;
}
