import type { SmithClient } from "@smith/client";
import type { Command } from "../args.ts";
import { formatData } from "../format/output.ts";
import type { CtlIO } from "../io.ts";

/** `cancel` and `retry`: the server checks the transition and the reason. */
export async function transition(
  client: SmithClient,
  cmd: Extract<Command, { kind: "cancel" | "retry" }>,
  io: CtlIO,
): Promise<number> {
  const loop =
    cmd.kind === "cancel"
      ? await client.loops.cancel.mutate({ id: cmd.id, reason: cmd.reason })
      : await client.loops.retry.mutate({ id: cmd.id, reason: cmd.reason });
  io.stdout(
    cmd.output === "table"
      ? `loop/${loop.id} ${cmd.kind === "cancel" ? "cancelled" : "retried"} (now ${loop.status.state})`
      : formatData(loop, cmd.output),
  );
  return 0;
}

export async function answer(
  client: SmithClient,
  cmd: Extract<Command, { kind: "answer" }>,
  io: CtlIO,
): Promise<number> {
  const loop = await client.loops.answer.mutate({ id: cmd.id, answer: cmd.answer });
  io.stdout(
    cmd.output === "table" ? `loop/${loop.id} answered (now ${loop.status.state})` : formatData(loop, cmd.output),
  );
  return 0;
}

export async function steer(client: SmithClient, cmd: Extract<Command, { kind: "steer" }>, io: CtlIO): Promise<number> {
  const result = await client.loops.steer.mutate({ id: cmd.id, message: cmd.message });
  io.stdout(
    cmd.output === "table"
      ? `loop/${result.loop.id} steered (message ${result.messageId}, ${result.loop.steering.length} pending)`
      : formatData(result, cmd.output),
  );
  return 0;
}

/** `override ID --to STATE --reason TEXT` (admin): forces a state where the lifecycle allows it. */
export async function override(
  client: SmithClient,
  cmd: Extract<Command, { kind: "override" }>,
  io: CtlIO,
): Promise<number> {
  const loop = await client.loops.override.mutate({ id: cmd.id, to: cmd.to, reason: cmd.reason });
  io.stdout(
    cmd.output === "table" ? `loop/${loop.id} overridden (now ${loop.status.state})` : formatData(loop, cmd.output),
  );
  return 0;
}
