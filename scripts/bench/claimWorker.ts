// One claim process of the multi-process claims figure (scripts/bench/claims.ts): opens its
// claimers (own client and session each), prints "ready", drains the queue on "go" from stdin and
// prints {ids, conflicts} as one JSON line. Run as `node claimWorker.ts <endpoint> <prefix> <claimers> <perKeyLimit>`.
import { createInterface } from "node:readline";
import { testStore } from "@smith/store/testSupport";

const [endpoint, prefix, claimersArg, perKeyArg] = process.argv.slice(2);
if (!endpoint || !prefix || !claimersArg || !perKeyArg) {
  process.stderr.write("usage: claimWorker.ts <endpoint> <prefix> <claimers> <perKeyLimit>\n");
  process.exit(2);
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
      const claimer = store.claims.claimer(session, { perKeyLimit: Number(perKeyArg), spread: 32, readAhead: 8 });
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
