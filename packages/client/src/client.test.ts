import { etcdTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { startTestApi, type TestApi } from "@smith/api/testSupport";
import { TRPCClientError, createSmithClient } from "./index.ts";

/** Waits for the first entry of a loop's journal through `client`; rejects with the subscription's error. */
function firstJournalEntry(
  client: ReturnType<typeof createSmithClient>,
  loopId: string,
): Promise<{ id: string; message: string }> {
  return new Promise((resolve, reject) => {
    const sub = client.journal.tail.subscribe(
      { loopId },
      {
        onData: ({ id, data }) => {
          sub.unsubscribe();
          resolve({ id, message: data.message });
        },
        onError: (err) => {
          sub.unsubscribe();
          reject(err);
        },
      },
    );
  });
}

/** A fetch that records every request's URL and Authorization header before sending it. */
function recordingFetch(): {
  fetch: typeof globalThis.fetch;
  requests: { url: string; authorization: string | null }[];
} {
  const requests: { url: string; authorization: string | null }[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const headers = new Headers(input instanceof Request ? input.headers : undefined);
    new Headers(init?.headers).forEach((value, key) => headers.set(key, value));
    requests.push({ url, authorization: headers.get("authorization") });
    return globalThis.fetch(input, init);
  };
  return { fetch, requests };
}

async function createLoop(api: TestApi): Promise<string> {
  const { loop } = await api.client(api.tokens.operator).loops.create.mutate({
    spec: { repo: { url: "https://example.com/acme/app.git" }, prd: { kind: "path" }, agent: { provider: "replay" } },
  });
  return loop.id;
}

describe("@smith/client", () => {
  test("the README example works as written: create a loop, tail its journal to the first entries, unsubscribe", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const printed: string[] = [];
      const errors: unknown[] = [];
      let firstPrinted: () => void = () => undefined;
      const done = new Promise<void>((resolve) => {
        firstPrinted = resolve;
      });
      // The example's `console`, so that the code below is the README's, line for line (only the
      // URL and the token come from the test).
      const console = {
        log: (line: string) => {
          printed.push(line);
          firstPrinted();
        },
        error: (...args: unknown[]) => errors.push(args),
      };

      // --- the README example ---
      const smith = createSmithClient({ url: api.url, token: api.tokens.operator });

      const { loop } = await smith.loops.create.mutate({
        spec: {
          repo: { url: "https://github.com/acme/app.git" },
          prd: { kind: "path", path: ".agents/tasks/prd.json" },
        },
      });

      const sub = smith.journal.tail.subscribe(
        { loopId: loop.id },
        {
          onData: ({ id, data: entry }) => {
            console.log(`${id} [${entry.phase}] ${entry.message}`);
            if (entry.seq >= 1) sub.unsubscribe(); // the first entry is enough here
          },
          onError: (err) => console.error(err.data?.code, err.message),
        },
      );
      // --- end of the README example ---

      await done;
      expect(printed).toEqual([expect.stringMatching(/^1 \[lifecycle\] loop created by op /)]);
      // Unsubscribed: a later entry is not delivered.
      await smith.loops.cancel.mutate({ id: loop.id, reason: "example over" });
      await new Promise((r) => setTimeout(r, 300));
      expect(printed).toHaveLength(1);
      expect(errors).toEqual([]);
      expect(loop).toMatchObject({ spec: { agent: { provider: "claude" } }, status: { state: "unresolved" } });
    } finally {
      await api.close();
    }
  });

  test("a correlationId given to createSmithClient shows up in the audit event of a mutation", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const correlationId = "deploy-2024.06.01:run-42";
      const client = createSmithClient({ url: api.url, token: api.tokens.operator, correlationId });
      const { loop } = await client.loops.create.mutate({
        spec: { repo: { url: "https://example.com/a.git" }, prd: { kind: "path" } },
      });
      await client.loops.cancel.mutate({ id: loop.id, reason: "correlated" });
      // A refused mutation is audited with it too.
      await expect(client.loops.cancel.mutate({ id: loop.id, reason: "again" })).rejects.toBeInstanceOf(
        TRPCClientError,
      );

      const audit = await api.client(api.tokens.viewer).audit.list.query({ loopId: loop.id });
      expect(audit.items.map((e) => [e.action, e.outcome, e.correlationId])).toEqual([
        ["loops.create", "ok", correlationId],
        ["loops.cancel", "ok", correlationId],
        ["loops.cancel", "error", correlationId],
      ]);
      const journal = await client.journal.list.query({ loopId: loop.id });
      expect(journal.entries.map((e) => e.correlationId)).toEqual([correlationId, correlationId]);

      // Without one, the server makes up a fresh id per call.
      const plain = api.client(api.tokens.operator);
      await plain.loops.cancel.mutate({ id: await createLoop(api), reason: "uncorrelated" });
      const all = await api.store.audit.list();
      const others = all.items.filter((e) => e.correlationId !== correlationId && e.action.startsWith("loops."));
      expect(others).toHaveLength(2);
      expect(new Set(others.map((e) => e.correlationId)).size).toBe(2);
    } finally {
      await api.close();
    }
  });

  test("the bearer token goes in the Authorization header, for SSE subscriptions too, and never in a URL", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const loopId = await createLoop(api);
      const { fetch, requests } = recordingFetch();
      const viewer = createSmithClient({ url: api.url, token: api.tokens.viewer, fetch });
      expect(await firstJournalEntry(viewer, loopId)).toMatchObject({
        id: "1",
        message: expect.stringMatching(/^loop created by op /),
      });
      expect((await viewer.loops.get.query({ id: loopId })).id).toBe(loopId);
      await expect(viewer.loops.cancel.mutate({ id: loopId, reason: "a viewer may not" })).rejects.toMatchObject({
        data: { code: "FORBIDDEN" },
      });

      const sse = requests.filter((r) => r.url.includes("journal.tail"));
      expect(sse.length).toBeGreaterThanOrEqual(1);
      expect(requests.filter((r) => r.url.includes("loops.get") || r.url.includes("loops.cancel"))).toHaveLength(2);
      for (const r of requests) {
        expect(r.authorization).toBe(`Bearer ${api.tokens.viewer}`);
        expect(r.url).not.toContain(api.tokens.viewer);
        expect(r.url).not.toContain(encodeURIComponent(api.tokens.viewer));
      }

      // Without a token the same subscription is refused: the header is what authenticated it.
      const anonymous = recordingFetch();
      const err = await firstJournalEntry(createSmithClient({ url: api.url, fetch: anonymous.fetch }), loopId).then(
        () => new Error("expected the subscription to fail"),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TRPCClientError);
      expect(err).toMatchObject({ data: { code: "UNAUTHORIZED" } });
      expect(anonymous.requests.map((r) => r.authorization)).toEqual(anonymous.requests.map(() => null));
      // A wrong token is refused the same way.
      await expect(
        firstJournalEntry(createSmithClient({ url: api.url, token: "smith_not-a-token" }), loopId),
      ).rejects.toMatchObject({
        data: { code: "UNAUTHORIZED" },
      });
    } finally {
      await api.close();
    }
  });
  test("calls made in one tick share one HTTP request by default, and go one request each with batch: false", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const loopId = await createLoop(api);
      const batched = recordingFetch();
      const single = recordingFetch();
      for (const [recorder, options] of [
        [batched, {}],
        [single, { batch: false }],
      ] as const) {
        const client = createSmithClient({ url: api.url, token: api.tokens.viewer, fetch: recorder.fetch, ...options });
        const [a, b] = await Promise.all([client.loops.get.query({ id: loopId }), client.loops.list.query({})]);
        expect(a.id).toBe(loopId);
        expect(b.items.map((l) => l.id)).toContain(loopId);
      }
      expect(batched.requests).toHaveLength(1);
      expect(batched.requests[0]?.url).toMatch(/\/trpc\/loops\.get,loops\.list\?batch=1/);
      expect(single.requests.map((r) => new URL(r.url).pathname).sort()).toEqual([
        "/trpc/loops.get",
        "/trpc/loops.list",
      ]);
      expect(single.requests.every((r) => !r.url.includes("batch=1"))).toBe(true);
    } finally {
      await api.close();
    }
  });
});
