import type { SmithClient } from "@smith/client";
import type { CtlIO } from "../io.ts";

/** How many ids a completion offers: the newest loops, one page of the API. */
const COMPLETION_IDS = 200;

/** `smithctl __complete loops`: the newest loop ids, one per line, for the completion scripts. */
export async function completeLoopIds(client: SmithClient, io: CtlIO): Promise<number> {
  const page = await client.loops.list.query({ limit: COMPLETION_IDS, order: "desc" });
  if (page.items.length) io.stdout(page.items.map((l) => l.id).join("\n"));
  return 0;
}
