import type { SmithClient } from "@smith/client";
import { visibleLine } from "@smith/core";
import type { Command } from "../args.ts";
import { formatData, formatStreamItem } from "../format/output.ts";
import { deletedLoopStreamRow, loopStreamHeader, loopStreamRow, loopTable } from "../format/loops.ts";
import type { CtlIO } from "../io.ts";
import { listLoops } from "../pages.ts";
import { runStream } from "../stream.ts";

export async function getLoops(
  client: SmithClient,
  cmd: Extract<Command, { kind: "get-loops" }>,
  io: CtlIO,
): Promise<number> {
  if (cmd.watch) {
    // A subscription retries an unreachable server forever; one query first fails fast and
    // reports a bad token or URL the way every other command does.
    await client.loops.list.query({ limit: 1 });
    return watchLoops(client, cmd, io);
  }
  const items = await listLoops(client, { states: cmd.states, limit: cmd.limit });
  if (cmd.output === "json" || cmd.output === "yaml") {
    io.stdout(formatData({ items }, cmd.output));
  } else if (items.length === 0) {
    io.stderr("No loops found.");
  } else {
    io.stdout(loopTable(items, cmd.output, io.now()));
  }
  return 0;
}

export async function getLoop(
  client: SmithClient,
  cmd: Extract<Command, { kind: "get-loop" }>,
  io: CtlIO,
): Promise<number> {
  const loop = await client.loops.get.query({ id: cmd.id });
  io.stdout(
    cmd.output === "json" || cmd.output === "yaml"
      ? formatData(loop, cmd.output)
      : loopTable([loop], cmd.output, io.now()),
  );
  return 0;
}

/** The current loops (the watch's snapshot), then a row for every change, until Ctrl-C. */
function watchLoops(client: SmithClient, cmd: Extract<Command, { kind: "get-loops" }>, io: CtlIO): Promise<number> {
  const output = cmd.output;
  let headerPrinted = false;
  return runStream(io, (finish) =>
    client.loops.watch.subscribe(
      { snapshot: true, ...(cmd.states ? { state: cmd.states } : {}) },
      {
        // onStarted fires again after a reconnect; the header is printed once.
        onStarted: () => {
          if (headerPrinted || output === "json" || output === "yaml") return;
          headerPrinted = true;
          io.stdout(loopStreamHeader(output));
        },
        onData: ({ data }) => {
          if (output === "json" || output === "yaml") io.stdout(formatStreamItem(data, output));
          else
            io.stdout(
              data.type === "put" ? loopStreamRow(data.loop, output, io.now()) : deletedLoopStreamRow(data.id, output),
            );
        },
        onError: (err) => finish(err),
        onConnectionStateChange: (state) => {
          if (state.state === "connecting" && state.error)
            io.stderr(`watch: reconnecting after: ${visibleLine(state.error.message)}`);
        },
      },
    ),
  );
}
