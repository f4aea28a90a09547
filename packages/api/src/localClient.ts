import { createTRPCClient, localLink, type TRPCClient } from "@trpc/client";
import type { IncomingMessage } from "node:http";
import superjson from "superjson";
import { createContext } from "./context.ts";
import { appRouter, type AppRouter } from "./root.ts";
import type { ApiServices } from "./services.ts";

/**
 * A typed client that calls the router in this process with the context of `req`: the same
 * authentication, roles, validation and audit as a call over HTTP, without the round trip.
 * The /mcp endpoint gives one to each MCP request.
 */
export function localClient(services: ApiServices, req: IncomingMessage): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({
    links: [
      localLink({ router: appRouter, transformer: superjson, createContext: () => createContext(services, req) }),
    ],
  });
}
