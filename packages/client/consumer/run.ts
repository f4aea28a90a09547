// Run by src/pack.test.ts with Node, from the temporary project the packed tarball was installed
// into: creates a loop, reads it back and tails its journal until the first entry, then prints
// one JSON line.
import { createSmithClient, type JournalEntry } from "@smith/client";

const [url, token] = process.argv.slice(2);
if (!url || !token) throw new Error("usage: node run.ts URL TOKEN");
const smith = createSmithClient({ url, token });

const { loop } = await smith.loops.create.mutate({
  spec: { repo: { url: "https://example.com/acme/app.git" }, prd: { kind: "path" }, agent: { provider: "replay" } },
});
const read = await smith.loops.get.query({ id: loop.id });
const first = await new Promise<{ id: string; entry: JournalEntry }>((resolve, reject) => {
  const sub = smith.journal.tail.subscribe(
    { loopId: loop.id },
    {
      onData: ({ id, data }) => {
        sub.unsubscribe();
        resolve({ id, entry: data });
      },
      onError: (err) => {
        sub.unsubscribe();
        reject(err);
      },
    },
  );
});
console.log(
  JSON.stringify({
    created: loop.id,
    read: { id: read.id, state: read.status.state },
    first: { id: first.id, phase: first.entry.phase, message: first.entry.message },
  }),
);
