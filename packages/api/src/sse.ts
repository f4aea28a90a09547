import {
  callProcedure,
  getErrorShape,
  getProcedureAtPath,
  getTRPCErrorFromUnknown,
  isAbortError,
  isAsyncIterable,
  isObject,
  isTrackedEnvelope,
  sseHeaders,
} from "@trpc/server/unstable-core-do-not-import";
import { TRPCError } from "@trpc/server";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createContext, type Context } from "./context.ts";
import { appRouter } from "./root.ts";
import type { ApiServices } from "./services.ts";
import { plainJsonText, transformer } from "./transformer.ts";

/**
 * The API's writer of tRPC subscriptions over SSE, in tRPC's own wire format (the same frames,
 * byte for byte, as `@trpc/server`'s SSE producer: `sse.test.ts` compares the two), so that any
 * tRPC client (`httpSubscriptionLink`) reads it unchanged.
 *
 * Why not tRPC's own: there every event of every subscriber goes through four generator layers
 * (the procedure's iterable, an abort race, the producer, its error wrapper), a web
 * ReadableStream, a TransformStream that enqueues the event's lines one by one, a
 * TextEncoderStream and a WritableStream, and reaches the socket as four writes. Here the
 * procedure's iterable is read directly and each event is one write; an event's JSON is built
 * from the entries' texts, which every subscriber of the loop shares (`plainJsonText`). For ten
 * `journal.tail` subscribers of a loop written at 1,000 entries/s this cut the API's CPU to a
 * third and the p99 by 4-7× (docs/benchmarks.md, run 10); batched tails, with few events, gain
 * little.
 *
 * What stays tRPC's: the procedure itself with all its middleware (authentication, roles, audit
 * of denials, input validation, metrics), called through `callProcedure` as tRPC's HTTP handler
 * calls it, and the error shapes (`getErrorShape` with the router's formatter).
 */
export async function serveSubscription(
  services: ApiServices,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  url: URL,
): Promise<void> {
  const config = appRouter._def._config;
  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.once("close", onClose);
  const open = services.metrics.subscriptions.labels({ procedure: path });
  open.inc();
  let ctx: Context | undefined;
  let input: unknown;
  let frames: AsyncIterator<unknown> | undefined;
  res.writeHead(200, HEADERS);
  write(res, `event: connected\ndata: ${JSON.stringify(config.sse?.client ?? {})}\n\n\n`);
  try {
    ctx = await createContext(services, req);
    const result: unknown = await callProcedure({
      router: appRouter,
      path,
      // Read when the procedure's input middleware asks, as tRPC does: a caller refused by an
      // earlier middleware gets that refusal, whatever its input.
      getRawInput: async () => (input = readInput(url, req)),
      ctx,
      type: "subscription",
      signal: abort.signal,
      batchIndex: 0,
    });
    if (!isAsyncIterable(result)) {
      throw new TRPCError({
        code: "INTERNAL_SERVER_ERROR",
        message: `Subscription ${path} did not return an observable or a AsyncGenerator`,
      });
    }
    frames = result[Symbol.asyncIterator]();
    let lastEventId = lastEventIdOf(url, req);
    if (lastEventId !== null && /[\0\n\r]/.test(lastEventId)) lastEventId = null;
    const pingMs = config.sse?.ping?.enabled ? (config.sse.ping.intervalMs ?? 1_000) : 0;
    for (;;) {
      const step = await withPings(res, frames.next(), pingMs);
      if (step.done) break;
      const value: unknown = step.value;
      if (isTrackedEnvelope(value)) {
        lastEventId = value[0];
        const sent = write(res, `data: ${serialize(value[1])}\nid: ${value[0]}\n\n\n`);
        if (!sent) await drained(res);
      } else if (lastEventId === null) {
        if (!write(res, `data: ${serialize(value)}\n\n\n`)) await drained(res);
      } else {
        // tRPC's rule: an untracked event after a tracked one clears the client's last event id
        // for that event, then restores it.
        const sent = write(
          res,
          `data: ${serialize(value)}\nid: \n\n\nevent: restore-id\ndata: \nid: ${lastEventId}\n\n\n`,
        );
        if (!sent) await drained(res);
      }
      if (abort.signal.aborted) break;
    }
    if (!abort.signal.aborted) write(res, "event: return\ndata: \n\n\n");
  } catch (cause) {
    if (!abort.signal.aborted && !isAbortError(cause)) {
      const error = getTRPCErrorFromUnknown(cause);
      if (error.code === "INTERNAL_SERVER_ERROR")
        services.log.error({ path, err: error.cause ?? error }, "procedure failed");
      const shape = getErrorShape({ config, ctx, error, input, path, type: "subscription" });
      write(res, `event: serialized-error\ndata: ${JSON.stringify(transformer.output.serialize(shape))}\n\n\n`);
    }
  } finally {
    res.off("close", onClose);
    abort.abort();
    await frames?.return?.().catch(() => undefined);
    res.end();
    open.dec();
  }
}

/** As tRPC's Node adapter sends them (set through a fetch Headers object: lower-case names). */
const HEADERS: Record<string, string> = {
  vary: "trpc-accept, accept",
  ...Object.fromEntries(Object.entries(sseHeaders).map(([k, v]) => [k.toLowerCase(), v])),
};

/** True when the request is a subscription this writer serves (one procedure, no batch). */
export async function isSubscriptionRequest(req: IncomingMessage, path: string, url: URL): Promise<boolean> {
  if (req.method !== "GET" || url.searchParams.has("batch") || url.searchParams.has("connectionParams")) return false;
  if (!/^[A-Za-z][A-Za-z0-9.]*$/.test(path)) return false;
  const procedure = await getProcedureAtPath(appRouter, path);
  return procedure?._def.type === "subscription";
}

/** An event's data: plain JSON answers from their shared texts, anything else as tRPC would. */
function serialize(data: unknown): string {
  return plainJsonText(data) ?? JSON.stringify(transformer.output.serialize(data));
}

/** The input as tRPC's HTTP handler reads it: `?input=` through the transformer, then the last event id. */
function readInput(url: URL, req: IncomingMessage): unknown {
  const raw = url.searchParams.get("input");
  let input: unknown;
  if (raw !== null) {
    try {
      input = transformer.input.deserialize(JSON.parse(raw));
    } catch (cause) {
      throw new TRPCError({
        code: "BAD_REQUEST",
        message: cause instanceof Error ? cause.message : "Invalid input",
        cause: cause instanceof Error ? cause : undefined,
      });
    }
  }
  const lastEventId = lastEventIdOf(url, req);
  if (lastEventId) {
    if (isObject(input)) input = { ...input, lastEventId };
    else input ??= { lastEventId };
  }
  return input;
}

/** tRPC's `getLastEventId`: the EventSource header, else the query (a polyfill without headers). */
function lastEventIdOf(url: URL, req: IncomingMessage): string | null {
  const header = req.headers["last-event-id"];
  if (typeof header === "string") return header;
  return url.searchParams.get("lastEventId") ?? url.searchParams.get("Last-Event-Id");
}

/** Waits for the next event, writing a ping each `pingMs` without one (tRPC's `withPing`). */
async function withPings<T>(res: ServerResponse, next: Promise<T>, pingMs: number): Promise<T> {
  if (pingMs <= 0) return next;
  let timer: NodeJS.Timeout | undefined;
  const ping = () => {
    write(res, "event: ping\ndata: \n\n\n");
    timer = setTimeout(ping, pingMs);
  };
  timer = setTimeout(ping, pingMs);
  try {
    return await next;
  } finally {
    clearTimeout(timer);
  }
}

function write(res: ServerResponse, text: string): boolean {
  if (res.destroyed || res.writableEnded) return true;
  return res.write(text);
}

/** Resolves when the socket took the buffered events (or closed): a slow reader holds the next read. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
