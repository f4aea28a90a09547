import { request, type IncomingHttpHeaders } from "node:http";
import { describe, expect } from "vitest";
import superjson from "superjson";
import { etcdMetric } from "@smith/testing";
import { apiTest } from "./fixtures.ts";
import { loopInput, startTestApi, type TestApi } from "./testSupport.ts";

/**
 * The API's own SSE writer (sse.ts) against tRPC's (`sseWriter: "trpc"`): two API processes on the
 * same etcd prefix answer the same subscription requests, and the bytes each sends must be the
 * same, event for event, for streams, resumptions and every kind of error.
 */

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** GETs `path?input=…` and reads until `until(body)` holds or the server ends the response. */
function get(
  base: string,
  procedure: string,
  input: unknown,
  options: { token?: string; headers?: Record<string, string>; until?: (body: string) => boolean } = {},
): Promise<Answer> {
  const url = new URL(`/trpc/${procedure}`, base);
  if (input !== undefined) url.searchParams.set("input", JSON.stringify(superjson.serialize(input)));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        headers: {
          accept: "text/event-stream",
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let body = "";
        const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
          if (options.until?.(body)) {
            req.destroy();
            done();
          }
        });
        res.on("end", done);
        res.on("error", () => undefined);
      },
    );
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

/** The headers both writers must send alike (not the date, nor how the body is framed). */
function sseHeadersOf(a: Answer): Record<string, unknown> {
  const { date: _date, "transfer-encoding": _te, connection: _c, "keep-alive": _k, ...rest } = a.headers;
  return rest;
}

/** Until the `n`th event with an id has ended (tRPC sends an event's lines as separate chunks). */
const events = (n: number) => (body: string) => (body.match(/\nid: [^\n]*\n\n\n/g)?.length ?? 0) >= n;

const test = apiTest.extend("trpc", async ({ etcdEndpoint, prefix }, { onCleanup }) => {
  const other: TestApi = await startTestApi(etcdEndpoint, prefix, { sseWriter: "trpc" });
  onCleanup(() => other.close());
  return other;
});

describe("SSE subscriptions", () => {
  test("the API's writer sends tRPC's bytes: batched and single tails, resumption, loops.watch", async ({
    api,
    trpc,
  }) => {
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(loopInput());
    await api.store.journal.append(
      loop.id,
      Array.from({ length: 120 }, (_, i) => ({
        phase: "agent" as const,
        actor: { type: "agent" as const, id: "a" },
        message: `m${i} "quoted" ünïcode \u2028 <b>`,
        data: { i, list: [1, "two", { three: [null, true] }] },
      })),
    );
    const viewer = api.tokens.viewer;
    const cases: [string, unknown, Parameters<typeof get>[3]][] = [
      ["journal.tailBatched", { loopId: loop.id, maxEntries: 25 }, { until: events(5) }],
      ["journal.tailBatched", { loopId: loop.id, afterSeq: 100 }, { until: events(1) }],
      ["journal.tail", { loopId: loop.id }, { until: events(121) }],
      // A reconnect: the last event id comes as EventSource's header, and as a polyfill's query.
      ["journal.tail", { loopId: loop.id }, { until: events(21), headers: { "last-event-id": "100" } }],
      ["journal.tailBatched", { loopId: loop.id, lastEventId: "110" }, { until: events(1) }],
      ["loops.watch", { snapshot: true }, { until: events(1) }],
    ];
    for (const [procedure, input, options] of cases) {
      const mine = await get(api.url, procedure, input, { token: viewer, ...options });
      const theirs = await get(trpc.url, procedure, input, { token: viewer, ...options });
      expect(mine.status, procedure).toBe(200);
      expect(sseHeadersOf(mine), procedure).toEqual(sseHeadersOf(theirs));
      expect(mine.body, `${procedure} ${JSON.stringify(input)}`).toBe(theirs.body);
      expect(mine.body.startsWith('event: connected\ndata: {"reconnectAfterInactivityMs":15000}\n\n\n')).toBe(true);
    }
  });

  test("an idle subscription pings as tRPC's does (every 5 s without an event)", async ({ api, trpc }) => {
    const { loop } = await api.client(api.tokens.operator).loops.create.mutate(loopInput());
    const pinged = (body: string) => body.includes("event: ping\ndata: \n\n\n");
    const options = { token: api.tokens.viewer, until: pinged };
    const [mine, theirs] = await Promise.all([
      get(api.url, "journal.tail", { loopId: loop.id }, options),
      get(trpc.url, "journal.tail", { loopId: loop.id }, options),
    ]);
    expect(mine.body).toBe(theirs.body);
    expect(mine.body).toMatch(/\nid: 1\n\n\nevent: ping\ndata: \n\n\n$/);
  });

  test("errors arrive as tRPC's serialized-error event: no token, a bad token, input over a limit or malformed, a missing loop", async ({
    api,
    trpc,
  }) => {
    const { loop } = await api.client(api.tokens.operator).loops.create.mutate(loopInput());
    const cases: [string, unknown, string | undefined][] = [
      ["journal.tail", { loopId: loop.id }, undefined],
      ["journal.tail", { loopId: loop.id }, "not-a-token"],
      ["journal.tailBatched", { loopId: loop.id, maxEntries: 100_000 }, api.tokens.viewer],
      ["journal.tailBatched", { loopId: "../etc" }, api.tokens.viewer],
      ["journal.tail", { loopId: "lp-0000000000000000000000000" }, api.tokens.viewer],
      ["loops.watch", { state: ["bogus"] }, api.tokens.viewer],
    ];
    for (const [procedure, input, token] of cases) {
      const mine = await get(api.url, procedure, input, { token });
      const theirs = await get(trpc.url, procedure, input, { token });
      expect(mine.body, `${procedure} ${JSON.stringify(input)} ${token ?? "(no token)"}`).toBe(theirs.body);
      expect(mine.body).toMatch(/\nevent: serialized-error\ndata: \{"json":\{"message":/);
      expect(sseHeadersOf(mine)).toEqual(sseHeadersOf(theirs));
    }
    // Input that is not JSON: both refuse it alike (tRPC's message is the JSON parser's).
    const notJson = async (base: string) =>
      (
        await fetch(`${base}/trpc/journal.tail?input=%7Bnot-json`, {
          headers: { authorization: `Bearer ${api.tokens.viewer}` },
        })
      ).text();
    const [mine, theirs] = [await notJson(api.url), await notJson(trpc.url)];
    expect(mine).toBe(theirs);
    expect(mine).toMatch(/"code":"BAD_REQUEST"/);
  });

  test("a subscriber that disconnects ends its tail: the API's etcd watch of that loop is cancelled", async ({
    api,
    etcdEndpoint,
  }) => {
    /** etcd's own count of the watchers it serves. */
    const watchers = () => etcdMetric(etcdEndpoint, "etcd_debugging_mvcc_watcher_total");
    const { loop } = await api.client(api.tokens.operator).loops.create.mutate(loopInput());
    const before = await watchers();
    /** The writer's own gauge: proof that the subscription went through sse.ts, not tRPC's handler. */
    const open = async () =>
      (await api.server.services.metrics.subscriptions.get()).values.find((v) => v.labels.procedure === "journal.tail")
        ?.value ?? 0;
    const answer = get(api.url, "journal.tail", { loopId: loop.id }, { token: api.tokens.viewer, until: events(2) });
    await expect.poll(watchers, { timeout: 5_000 }).toBe(before + 1);
    expect(await open()).toBe(1);
    await api.store.journal.append(loop.id, [{ phase: "agent", actor: { type: "agent", id: "a" }, message: "m" }]);
    expect((await answer).body).toContain("\nid: 2\n");
    await expect.poll(watchers, { timeout: 5_000 }).toBe(before);
    await expect.poll(open, { timeout: 5_000 }).toBe(0);
  });
});
