import type { SmithClient } from "@smith/client";
import { isFinished, visibleText, type JournalEntry } from "@smith/core";
import type { Command } from "../args.ts";
import { journalLine } from "../format/journal.ts";
import { formatData, formatStreamItem } from "../format/output.ts";
import type { CtlIO } from "../io.ts";
import { readJournal } from "../pages.ts";
import { runStream } from "../stream.ts";

/** How often `logs -f` asks whether the loop has finished (the journal does not say so itself). */
const FINISH_POLL_MS = 1_000;

export async function logs(client: SmithClient, cmd: Extract<Command, { kind: "logs" }>, io: CtlIO): Promise<number> {
  let lastSeq = cmd.sinceSeq ?? 0;
  const print = (e: JournalEntry) => {
    // The backlog, the tail and the final catch-up may overlap: each entry is printed once.
    if (e.seq <= lastSeq) return;
    lastSeq = e.seq;
    io.stdout(cmd.output === "table" ? journalLine(e) : formatStreamItem(e, cmd.output));
  };
  // The loop's state before the backlog: a loop finished now has all its entries in the backlog.
  const loop = await client.loops.get.query({ id: cmd.id });
  const backlog = await readJournal(client, cmd.id, lastSeq, cmd.tail);
  backlog.entries.forEach(print);
  lastSeq = Math.max(lastSeq, backlog.lastSeq);
  if (!cmd.follow || isFinished(loop.status.state)) return 0;

  return runStream(io, (finish) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const sub = client.journal.tail.subscribe(
      { loopId: cmd.id, afterSeq: lastSeq },
      {
        onData: ({ data }) => print(data),
        onError: (err) => finish(err),
      },
    );
    const poll = async () => {
      try {
        const now = await client.loops.get.query({ id: cmd.id });
        if (isFinished(now.status.state)) {
          // Entries written before the state changed may still be on their way through the tail.
          const rest = await readJournal(client, cmd.id, lastSeq);
          rest.entries.forEach(print);
          finish(0);
          return;
        }
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (!stopped) timer = setTimeout(() => void poll(), FINISH_POLL_MS);
    };
    timer = setTimeout(() => void poll(), FINISH_POLL_MS);
    return {
      unsubscribe: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        sub.unsubscribe();
      },
    };
  });
}

/**
 * `logs --replica ID`: the end of the loop's replica's own log (its stdout and stderr), through the
 * API. The text is the replica's and its agent's: shown with control characters made visible.
 */
export async function replicaLog(
  client: SmithClient,
  cmd: Extract<Command, { kind: "replica-log" }>,
  io: CtlIO,
): Promise<number> {
  const log = await client.loops.replicaLog.query({
    id: cmd.id,
    ...(cmd.maxBytes !== undefined ? { maxBytes: cmd.maxBytes } : {}),
  });
  if (cmd.output !== "table") {
    io.stdout(formatData(log, cmd.output));
    return 0;
  }
  if (log.truncated) io.stderr(`(the last ${log.text.length} of ${log.bytes} bytes; --limit-bytes N shows more)`);
  if (log.text) io.stdout(visibleText(log.text).trimEnd());
  return 0;
}
