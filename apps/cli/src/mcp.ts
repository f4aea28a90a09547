import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createSmithClient } from "@smith/client";
import { SMITH_VERSION } from "@smith/core";
import { createSmithMcpServer } from "@smith/mcp";

/**
 * `smith mcp`: Smith's MCP server on stdin/stdout for an agent host (Claude Code, an IDE). Every
 * tool calls the API with the given token, so the host can do exactly what that token's role
 * allows. Resolves when the host closes stdin. Nothing but protocol messages goes to stdout.
 */
export async function runMcpStdio(endpoint: { url: string; token: string }): Promise<number> {
  const client = createSmithClient({ url: endpoint.url, token: endpoint.token });
  const server = createSmithMcpServer({ client, version: SMITH_VERSION });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once("end", () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close();
  return 0;
}
