// Measures what a loop costs in etcd, for docs/operations.md ("Sizing etcd"): a real etcd, loops
// with a realistic PRD, journal, handoffs, overrides and audit events, written through the store.
// Run: node scripts/docs/etcdSpace.ts [loops=20] [journal entries per loop=500]
import type { Actor } from "@smith/core";
import { SmithStore } from "@smith/store";
import { startEtcd } from "@smith/testing/standalone";

const LOOPS = Number(process.argv[2] ?? 20);
const ENTRIES = Number(process.argv[3] ?? 500);
const actor: Actor = { type: "replica", id: "measure" };

// A PRD of five stories with a paragraph each: about 4 KiB, a common size.
const PRD = JSON.stringify({
  project: "payments",
  overview: "Add refunds to the payments service. ".repeat(10),
  qualityGates: ["npm test", "npm run lint"],
  stories: Array.from({ length: 5 }, (_, i) => ({
    id: `US-00${i + 1}`,
    title: `Story ${i + 1}: a refund step`,
    status: "open",
    dependsOn: i ? [`US-00${i}`] : [],
    description: "As an operator I want to refund a payment so that the customer gets the money back. ".repeat(4),
    acceptanceCriteria: ["the API answers 201", "the ledger balances", "a webhook is sent"],
  })),
});
// About what a replica journals per step: a line of text and a little metadata.
const MESSAGE = "ran `npm test`: 214 passed, 0 failed; moving on to the next acceptance criterion of US-002";

async function dbSize(store: SmithStore): Promise<number> {
  const status = await store.client.maintenance.status();
  return Number(status.dbSize);
}

async function logicalBytes(store: SmithStore, prefix: string): Promise<{ keys: number; bytes: number }> {
  // Paged: a whole installation's keys exceed gRPC's 4 MiB message limit.
  let keys = 0;
  let bytes = 0;
  let start = prefix;
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  for (;;) {
    const res = await store.client.getAll().inRange({ start, end }).limit(1000).exec();
    for (const kv of res.kvs) {
      keys++;
      bytes += kv.key.length + kv.value.length;
    }
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || !last) return { keys, bytes };
    start = last.key.toString() + "\0";
  }
}

const etcd = await startEtcd();
const store = new SmithStore({ endpoints: [etcd.endpoint], prefix: "/smith/v1" });
try {
  const before = await dbSize(store);
  const ids: string[] = [];
  for (let l = 0; l < LOOPS; l++) {
    const { loop } = await store.loops.create({
      spec: { repo: { url: "https://github.com/acme/payments.git" }, prd: { kind: "inline", content: PRD } },
    });
    ids.push(loop.id);
    // Appends in batches of 10, as a replica's journal batcher sends them.
    for (let i = 0; i < ENTRIES; i += 10)
      await store.journal.append(
        loop.id,
        Array.from({ length: Math.min(10, ENTRIES - i) }, (_, k) => ({
          phase: "agent" as const,
          actor,
          message: `${MESSAGE} (${i + k})`,
          metadata: { step: i + k, story: "US-002" },
        })),
      );
    for (let attempt = 1; attempt <= 3; attempt++)
      await store.handoffs.put(loop.id, attempt, {
        done: ["US-001", "US-002"],
        remaining: ["US-003", "US-004", "US-005"],
        decisions: ["kept the ledger in one transaction"],
        diffSummary: " src/refunds.ts | 120 +++\n test/refunds.test.ts | 80 ++\n".repeat(5),
        validation: { state: "partial", details: "npm test: 214 passed" },
        nextSteps: ["US-003: the webhook"],
      });
    for (let e = 0; e < 10; e++)
      await store.audit.append({
        actor: { type: "operator", id: "alice", role: "operator" },
        action: "loops.steer",
        loopId: loop.id,
        correlationId: "c".repeat(36),
      });
  }
  const after = await dbSize(store);
  const one = await logicalBytes(store, "/smith/v1/");
  const journal = await logicalBytes(store, `/smith/v1/journal/${ids[0]}/`);
  // What compaction and defragmentation give back: the history of overwritten keys (the journal head, the loop).
  const { header } = await store.client.get("/smith/v1/none").exec();
  await store.client.kv.compact({ revision: header.revision, physical: true });
  await store.client.maintenance.defragment({});
  const defragged = await dbSize(store);
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    JSON.stringify(
      {
        loops: LOOPS,
        journalEntriesPerLoop: ENTRIES,
        logical: {
          keys: one.keys,
          perLoop: kib(one.bytes / LOOPS),
          perJournalEntry: `${Math.round(journal.bytes / ENTRIES)} B`,
        },
        dbSize: { before: kib(before), after: kib(after), growthPerLoop: kib((after - before) / LOOPS) },
        afterCompactAndDefrag: { dbSize: kib(defragged), perLoop: kib((defragged - before) / LOOPS) },
      },
      null,
      2,
    ),
  );
} finally {
  store.close();
  await etcd.destroy();
}
