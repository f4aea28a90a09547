import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { SmithClient } from "@smith/client";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createSmithMcpServer } from "./server.ts";

/**
 * One MCP request over streamable HTTP, answered by a server of its own (the SDK's stateless
 * mode): no session lives in this process, so any API replica can serve any request, and each
 * request acts with the client it is given (the caller's token).
 */
export async function handleMcpHttp(req: IncomingMessage, res: ServerResponse, client: SmithClient): Promise<void> {
  const server = createSmithMcpServer({ client });
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
}
