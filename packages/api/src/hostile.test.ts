// Hostile and malformed input at the API's door: every case is a typed error naming the field,
// nothing is written to etcd (no loop, no journal, no audit of a change), and the service answers
// the next honest call.
import { TRPCClientError } from "@smith/client";
import { describe, expect } from "vitest";
import { apiTest } from "./fixtures.ts";
import { lockedReplica, loopInput, startTestApi, type TestApi } from "./testSupport.ts";

interface ErrorShape {
  code?: string;
  smith?: { code: string; details: Record<string, unknown> };
  issues?: { path: string; message: string }[];
  message: string;
}

async function refusal(p: Promise<unknown>): Promise<ErrorShape> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof TRPCClientError)) throw new Error(`expected a tRPC error, got ${String(err)}`);
  const data = err.data as Omit<ErrorShape, "message"> | undefined;
  return { code: data?.code, smith: data?.smith, issues: data?.issues, message: err.message };
}

/**
 * Every key under the test's prefix except token records and the audit trail (which records each
 * refusal as `outcome: error`: a record of the attempt, not evidence of a change).
 */
async function writtenKeys(api: TestApi): Promise<string[]> {
  const keys = await api.store.client.getAll().prefix(`${api.store.keys.root}/`).keys();
  return keys.filter((k) => !k.includes("/tokens/") && !k.includes("/audit/"));
}

const withUrl = (url: string) => {
  const base = loopInput();
  return { ...base, spec: { ...base.spec, repo: { url } } };
};

/** Refused everywhere, whatever the installation allows. */
const ALWAYS_REFUSED: [string, RegExp][] = [
  ["ext::sh -c touch% /tmp/pwned", /remote helper/],
  ["fd::17", /remote helper/],
  ["--upload-pack=touch /tmp/pwned", /start with `-`/],
  ["-u/tmp/x", /start with `-`/],
  ["https://x-access-token:ghp_0123456789abcdef@github.com/acme/app.git", /credentials/],
  ["https://ghp_0123456789abcdef@github.com/acme/app.git", /credentials/],
  ["ssh://-oProxyCommand=touch%20x/acme/app", /starting with `-`/],
  ["https://github.com/acme/app\u001b]0;owned\u0007.git", /control characters/],
  ["git://github.com/acme/app.git", /git:\/\//],
];

/** Refused unless the operator allows local repositories (SMITH_ALLOW_LOCAL_REPOS). */
const LOCAL: string[] = ["file:///etc", "/etc", "http://127.0.0.1:1/app.git"];

describe("hostile input: repository URLs", () => {
  apiTest("refused at the door with a typed error naming the field; nothing written", async ({ api }) => {
    const op = api.client(api.tokens.operator);
    const before = await writtenKeys(api);
    for (const [url, problem] of ALWAYS_REFUSED) {
      const e = await refusal(op.loops.create.mutate(withUrl(url)));
      expect(e.code, url).toBe("BAD_REQUEST");
      expect(e.issues, url).toEqual([{ path: "spec.repo.url", message: expect.stringMatching(problem) }]);
      // The message never repeats the URL: it may carry a token.
      expect(e.message).not.toContain("ghp_");
      const b = await refusal(op.loops.createBatch.mutate({ items: [loopInput(), withUrl(url)] }));
      expect(b.code, url).toBe("BAD_REQUEST");
      expect(b.issues?.[0]?.path, url).toBe("items[1].spec.repo.url");
    }
    expect(await writtenKeys(api)).toEqual(before);
    // Still healthy: the next honest call works.
    expect((await op.loops.create.mutate(withUrl("git@github.com:acme/app.git"))).created).toBe(true);
  });

  apiTest("local repositories only where the operator allows them", async ({ api, etcdEndpoint, prefix }) => {
    const shared = await startTestApi(etcdEndpoint, prefix, { allowLocalRepos: false });
    try {
      const op = shared.client(api.tokens.admin);
      const before = await writtenKeys(api);
      for (const url of LOCAL) {
        const e = await refusal(op.loops.create.mutate(withUrl(url)));
        expect(e, url).toMatchObject({
          code: "BAD_REQUEST",
          smith: { code: "invalid_argument", details: { field: "spec.repo.url" } },
        });
        expect(e.message, url).toMatch(/SMITH_ALLOW_LOCAL_REPOS/);
        const b = await refusal(op.loops.createBatch.mutate({ items: [loopInput(), withUrl(url)] }));
        expect(b.smith?.details.field, url).toBe("items[1].spec.repo.url");
      }
      expect(await writtenKeys(api)).toEqual(before);
      // The test API (as `smith up`) allows them.
      const local = await api.client(api.tokens.operator).loops.create.mutate(withUrl("file:///srv/git/app.git"));
      expect(local.created).toBe(true);
    } finally {
      await shared.close();
    }
  });
});

describe("evidence integrity: a refused call writes nothing", () => {
  apiTest("a refused replica.finalize leaves no journal entry and the loop running", async ({ api }) => {
    const { loopId, r } = await lockedReplica(api);
    const journalBefore = (await api.store.journal.list(loopId)).entries.map((e) => e.message);
    for (const bad of [
      { outcome: "synced", reason: "operator-override" },
      { outcome: "flatline", reason: "all-stories-passed" },
    ] as const) {
      const e = await refusal(r.replica.finalize.mutate({ loopId, ...bad }));
      expect(e.code).toBe("BAD_REQUEST");
      expect(e.smith?.details.field).toBe("reason");
    }
    expect((await api.store.journal.list(loopId)).entries.map((e) => e.message)).toEqual(journalBefore);
    expect((await api.store.loops.getOrThrow(loopId)).loop.status.state).toBe("running");
    // Still healthy: the honest finalize is journaled once and applied.
    const done = await r.replica.finalize.mutate({ loopId, outcome: "synced", reason: "all-stories-passed" });
    expect(done.status.state).toBe("synced");
    const after = (await api.store.journal.list(loopId)).entries.map((e) => e.message);
    expect(after.filter((m) => m.startsWith("synced"))).toEqual(["synced (all-stories-passed)"]);
  });
});
