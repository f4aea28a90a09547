// `smith mcp` as an agent host runs it: the real binary as a child process speaking MCP on
// stdio, driven by the MCP SDK's own client, against a real API over real etcd.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { apiTest as test } from "@smith/api/fixtures";
import type { TestApi } from "@smith/api/testSupport";

const SMITH = resolve(fileURLToPath(import.meta.url), "../smith.ts");

async function connect(api: TestApi, token: string, home: string): Promise<{ mcp: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SMITH, "mcp", "--server", api.url, "--token", token],
    // A private HOME and contexts file, so that the user's own config is never read.
    env: { PATH: process.env.PATH ?? "", HOME: home, SMITH_CONFIG: join(home, "config.json") },
    stderr: "pipe",
  });
  let err = "";
  transport.stderr?.on("data", (b: Buffer) => (err += b.toString()));
  const mcp = new Client({ name: "smith-test", version: "0.0.0" });
  await mcp.connect(transport);
  return { mcp, stderr: () => err };
}

function text(result: unknown): string {
  const first = (result as CallToolResult).content[0];
  return first?.type === "text" ? first.text : "";
}

describe("smith mcp (stdio)", () => {
  test("lists tools, lists and creates loops with an operator token; a viewer's cancel is refused", async ({
    api,
    tmpDir,
  }) => {
    const operator = await connect(api, api.tokens.operator, tmpDir);
    let id: string;
    try {
      const { tools } = await operator.mcp.listTools();
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["list_loops", "create_loop", "tail_journal"]));
      const created = await operator.mcp.callTool({
        name: "create_loop",
        arguments: { repoUrl: "https://example.com/acme/app.git", provider: "replay" },
      });
      expect(created.isError).toBeFalsy();
      id = (JSON.parse(text(created)) as { loop: { id: string } }).loop.id;
      const listed = JSON.parse(text(await operator.mcp.callTool({ name: "list_loops", arguments: {} }))) as {
        items: { id: string }[];
      };
      expect(listed.items.map((l) => l.id)).toEqual([id]);
    } finally {
      await operator.mcp.close();
    }
    expect(operator.stderr()).toBe("");

    const viewer = await connect(api, api.tokens.viewer, tmpDir);
    try {
      const denied = await viewer.mcp.callTool({ name: "cancel_loop", arguments: { id, reason: "not allowed" } });
      expect(denied.isError).toBe(true);
      expect(text(denied)).toMatch(/^FORBIDDEN: loops\.cancel needs the operator role/);
      expect((await api.store.loops.getOrThrow(id)).loop.status.state).toBe("unresolved");
    } finally {
      await viewer.mcp.close();
    }
  });
});
