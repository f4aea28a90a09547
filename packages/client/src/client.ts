import type { AppRouter } from "@smith/api";
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
} from "@trpc/client";
import { EventSource } from "eventsource";
import { transformer } from "./transformer.ts";

export interface SmithClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:7070` (the client adds `/trpc`). */
  url: string;
  /** A bearer token: an API token, the bootstrap admin token, or a replica token. */
  token?: string;
  /** Sent as `x-correlation-id` with every call, for the audit log. */
  correlationId?: string;
  /** Custom fetch (tests, proxies). */
  fetch?: typeof globalThis.fetch;
  /**
   * Batch queries and mutations made in the same tick into one HTTP request (default true). The
   * batch is sent on the next timer tick, about 1 ms later: a caller that makes one call at a time
   * on a latency-sensitive path (a replica appending its journal) sends each call at once with
   * `false`.
   */
  batch?: boolean;
}

export type SmithClient = TRPCClient<AppRouter>;

/**
 * A fully typed Smith client: queries and mutations are batched over HTTP (unless `batch: false`), subscriptions use SSE
 * and resume from their last event id after a dropped connection. Only the router's *type* is
 * imported: no server code is bundled.
 */
export function createSmithClient(options: SmithClientOptions): SmithClient {
  const base = options.url.replace(/\/+$/, "") + "/trpc";
  const headers = (): Record<string, string> => ({
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...(options.correlationId ? { "x-correlation-id": options.correlationId } : {}),
  });
  const fetchImpl = options.fetch ?? globalThis.fetch;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url: base,
          transformer,
          EventSource,
          // The `eventsource` package takes a fetch through which we add the bearer token, so the
          // token travels in a header and never in the URL.
          eventSourceOptions: () => ({
            fetch: (input: string | URL, init?: RequestInit) =>
              fetchImpl(input, {
                ...init,
                headers: { ...(init?.headers as Record<string, string> | undefined), ...headers() },
              }),
          }),
        }),
        false:
          options.batch === false
            ? httpLink({ url: base, transformer, headers, fetch: fetchImpl })
            : httpBatchLink({ url: base, transformer, headers, fetch: fetchImpl }),
      }),
    ],
  });
}
