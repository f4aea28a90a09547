// A service's use of the published @smith/client, type-checked against the packed tarball by
// src/pack.test.ts. Each @ts-expect-error line must be a type error: if the bundled declarations
// lost the router's types, the directive would be unused and tsc would fail.
import {
  TRPCClientError,
  createSmithClient,
  type Handoff,
  type JournalEntry,
  type Loop,
  type LoopSpec,
  type LoopState,
  type RouterInputs,
  type RouterOutputs,
  type SmithClient,
} from "@smith/client";

export function connect(url: string, token: string): SmithClient {
  return createSmithClient({ url, token, correlationId: "consumer-1" });
}

export async function correctUsage(smith: SmithClient): Promise<string> {
  const input: RouterInputs["loops"]["create"] = {
    spec: { repo: { url: "https://example.com/acme/app.git" }, prd: { kind: "path" }, agent: { provider: "replay" } },
    labels: { team: "payments" },
  };
  const { loop, created } = await smith.loops.create.mutate(input);
  const read: RouterOutputs["loops"]["get"] = await smith.loops.get.query({ id: loop.id });
  const asLoop: Loop = read;
  const spec: LoopSpec = asLoop.spec;
  const state: LoopState = asLoop.status.state;
  const page = await smith.journal.list.query({ loopId: loop.id });
  const first: JournalEntry | undefined = page.entries[0];
  const handoffs: Handoff[] = await smith.handoffs.list.query({ loopId: loop.id });
  try {
    await smith.loops.cancel.mutate({ id: loop.id, reason: "superseded" });
  } catch (err) {
    if (!(err instanceof TRPCClientError)) throw err;
    const code: string | undefined = err.data?.smith?.code;
    const field: string | undefined = err.data?.smith?.details.field;
    return `${code ?? ""} ${field ?? ""}`;
  }
  return `${String(created)} ${spec.repo.url} ${state} ${first?.message ?? ""} ${handoffs.length}`;
}

export async function wrongInput(smith: SmithClient): Promise<void> {
  await smith.loops.create.mutate({
    // @ts-expect-error a repository URL is a string
    spec: { repo: { url: 42 }, prd: { kind: "path" } },
  });
}

export async function wrongOutput(smith: SmithClient): Promise<void> {
  const loop = await smith.loops.get.query({ id: "01jabcdefghjkmnpqrstvwxyz0" });
  // @ts-expect-error a loop's state is one of the state names, not a number
  const attempts: number = loop.status.state;
  // @ts-expect-error a loop has no `owner`
  console.log(attempts, loop.owner);
}
