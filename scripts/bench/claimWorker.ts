// One claim process of the multi-process claims figure (scripts/bench/claims.ts): opens its
// claimers (own client and session each), prints "ready", drains the queue on "go" from stdin and
// prints {ids, conflicts} as one JSON line. Run as
// `node claimWorker.ts <endpoint> <prefix> <claimers> <perKeyLimit> [warm-up loops]`.
import { createInterface } from "node:readline";
import { loopRequest, testStore } from "@smith/store/testSupport";

const [endpoint, prefix, claimersArg, perKeyArg, warmupArg = "0"] = process.argv.slice(2);
if (!endpoint || !prefix || !claimersArg || !perKeyArg) {
  process.stderr.write("usage: claimWorker.ts <endpoint> <prefix> <claimers> <perKeyLimit> [warm-up loops]\n");
  process.exit(2);
}
const claimOptions = { perKeyLimit: Number(perKeyArg), spread: 32, readAhead: 8 };
// Warm-up, as the in-process trials have: this process drains loops of its own first, so that the
// timed drain runs on optimized code (a fresh process interprets grpc-js, protobuf and the claim
// path for its first few hundred calls).
const warmup = Number(warmupArg);
if (warmup > 0) {
  const warm = testStore(endpoint, `${prefix.replace(/\/$/, "")}-warm-${process.pid}/`);
  for (let i = 0; i < warmup; i++) await warm.loops.create(loopRequest({ concurrencyKey: `warm-${i}` }));
  const session = await warm.openSession({ ttlSeconds: 30 });
  const claimer = warm.claims.claimer(session, claimOptions);
  while (await claimer.next());
  await session.close();
  warm.close();
}
const stores = Array.from({ length: Number(claimersArg) }, () => testStore(endpoint, prefix));
const sessions = await Promise.all(stores.map((s) => s.openSession({ ttlSeconds: 30 })));
process.stdout.write("ready\n");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === "go") break;
const ids = (
  await Promise.all(
    stores.map(async (store, i) => {
      const session = sessions[i];
      if (!session) return [];
      const claimer = store.claims.claimer(session, claimOptions);
      const out: string[] = [];
      for (let c = await claimer.next(); c; c = await claimer.next()) out.push(c.loop.id);
      return out;
    }),
  )
).flat();
const conflicts = stores.reduce((n, s) => n + s.claims.stats.conflicts, 0);
process.stdout.write(JSON.stringify({ ids, conflicts }) + "\n");
await Promise.all(sessions.map((s) => s.close()));
for (const s of stores) s.close();
process.exit(0);
