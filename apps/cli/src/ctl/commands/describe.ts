import type { SmithClient } from "@smith/client";
import type { Command } from "../args.ts";
import { describeLoop } from "../format/describe.ts";
import type { CtlIO } from "../io.ts";
import { readJournal } from "../pages.ts";

const JOURNAL_LINES = 10;

export async function describeLoopCommand(
  client: SmithClient,
  cmd: Extract<Command, { kind: "describe-loop" }>,
  io: CtlIO,
): Promise<number> {
  // The loop first: an unknown id fails here, with the server's message, before anything else.
  const loop = await client.loops.get.query({ id: cmd.id });
  const [journal, handoffs, overrides] = await Promise.all([
    readJournal(client, cmd.id, 0, JOURNAL_LINES),
    client.handoffs.list.query({ loopId: cmd.id }),
    client.overrides.list.query({ loopId: cmd.id }),
  ]);
  const latestHandoff = handoffs.at(-1);
  io.stdout(
    describeLoop(
      {
        loop,
        journal: journal.entries,
        journalTotal: journal.lastSeq,
        overrides,
        ...(latestHandoff ? { latestHandoff } : {}),
      },
      io.now(),
    ),
  );
  return 0;
}
