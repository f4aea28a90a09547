// Smith's MCP server over streamable HTTP (/mcp on a real API over real etcd), driven by the
// MCP SDK's own client. The stdio transport (`smith mcp`) is tested in apps/cli/src/mcp.test.ts.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { etcdTest } from "@smith/testing";
import { describe, expect } from "vitest";
import { TEST_PRD, lockedReplica, startTestApi, type TestApi } from "@smith/api/testSupport";
import { handleMcpHttp } from "./index.ts";

const test = etcdTest.extend("api", async ({ etcdEndpoint, prefix }, { onCleanup }) => {
  const api = await startTestApi(etcdEndpoint, prefix, { mcp: handleMcpHttp });
  onCleanup(() => api.close());
  return api;
});

async function connect(api: TestApi, token: string | undefined): Promise<Client> {
  const client = new Client({ name: "smith-test", version: "0.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", api.url), {
    requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : {},
  });
  await client.connect(transport);
  return client;
}

function parsed(result: unknown): unknown {
  const r = result as CallToolResult;
  const first = r.content[0];
  if (first?.type !== "text" || r.isError) throw new Error(`not a result: ${JSON.stringify(r)}`);
  return JSON.parse(first.text);
}

function errorText(result: unknown): string {
  const r = result as CallToolResult;
  expect(r.isError).toBe(true);
  const first = r.content[0];
  return first?.type === "text" ? first.text : "";
}

describe("MCP over streamable HTTP at /mcp", () => {
  test("lists the tools, creates and reads a loop, pages and tails its journal, validates a PRD, reports cost", async ({
    api,
  }) => {
    const mcp = await connect(api, api.tokens.operator);
    try {
      const { tools } = await mcp.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([
        "answer_loop",
        "cancel_loop",
        "create_loop",
        "get_loop",
        "list_loops",
        "read_journal",
        "report_cost",
        "retry_loop",
        "steer_loop",
        "tail_journal",
        "validate_prd",
      ]);
      const create = tools.find((t) => t.name === "create_loop");
      expect(create?.inputSchema.required).toEqual(["repoUrl"]);

      const created = parsed(
        await mcp.callTool({
          name: "create_loop",
          arguments: {
            repoUrl: "https://example.com/acme/app.git",
            prd: TEST_PRD,
            provider: "replay",
            qualityGates: ["npm test"],
            maxCostUsd: 5,
            labels: { team: "payments" },
          },
        }),
      ) as { loop: { id: string }; created: boolean };
      expect(created.created).toBe(true);
      const id = created.loop.id;
      const { loop } = await api.store.loops.getOrThrow(id);
      expect(loop.spec).toMatchObject({
        prd: { kind: "inline", content: TEST_PRD },
        agent: { provider: "replay" },
        qualityGates: ["npm test"],
        limits: { maxCostUsd: 5 },
      });
      expect(loop.labels).toEqual({ team: "payments" });

      expect(parsed(await mcp.callTool({ name: "get_loop", arguments: { id } }))).toMatchObject({
        id,
        status: { state: "unresolved" },
      });
      const listed = parsed(await mcp.callTool({ name: "list_loops", arguments: { state: ["unresolved"] } })) as {
        items: { id: string }[];
      };
      expect(listed.items.map((l) => l.id)).toEqual([id]);

      await mcp.callTool({ name: "steer_loop", arguments: { id, message: "prefer small commits" } });
      const page = parsed(await mcp.callTool({ name: "read_journal", arguments: { loopId: id } })) as {
        entries: { seq: number; message: string }[];
      };
      expect(page.entries.map((e) => e.seq)).toEqual([1, 2]);
      // The tail ends at its bound: two entries exist, one is asked for.
      const tail = parsed(
        await mcp.callTool({ name: "tail_journal", arguments: { loopId: id, maxEntries: 1, waitMs: 10_000 } }),
      ) as { entries: { seq: number }[]; lastSeq: number; ended: string };
      expect(tail).toMatchObject({ lastSeq: 1, ended: "limit" });
      // ...or at its deadline when nothing more comes.
      const quiet = parsed(
        await mcp.callTool({
          name: "tail_journal",
          arguments: { loopId: id, afterSeq: 2, maxEntries: 5, waitMs: 300 },
        }),
      );
      expect(quiet).toEqual({ entries: [], lastSeq: 2, ended: "deadline" });
      // Bounds are enforced by the tool's schema.
      const tooLong = await mcp.callTool({ name: "tail_journal", arguments: { loopId: id, waitMs: 600_000 } });
      expect(errorText(tooLong)).toMatch(/waitMs/);

      const report = parsed(await mcp.callTool({ name: "validate_prd", arguments: { prd: TEST_PRD } })) as {
        valid: boolean;
      };
      expect(report.valid).toBe(true);
      // Markdown is converted by the API's importer first; what it cannot read is a tool error.
      const { markdown } = await api.client(api.tokens.viewer).prd.exportMarkdown.mutate({ content: TEST_PRD });
      expect(parsed(await mcp.callTool({ name: "validate_prd", arguments: { prd: markdown } }))).toMatchObject({
        valid: true,
      });
      const storyless = await mcp.callTool({ name: "validate_prd", arguments: { prd: "# PRD: nothing\n" } });
      expect(errorText(storyless)).toMatch(/^BAD_REQUEST \/ invalid_argument: PRD Markdown has no stories/);

      expect(parsed(await mcp.callTool({ name: "report_cost", arguments: { loopId: id } }))).toMatchObject({
        loopId: id,
        budgetUsd: 5,
        cost: { usd: 0 },
      });
      expect(parsed(await mcp.callTool({ name: "report_cost", arguments: {} }))).toMatchObject({ loops: 1 });

      // Loops are resources.
      const { resources } = await mcp.listResources();
      expect(resources.map((r) => r.uri)).toEqual([`smith://loops/${id}`]);
      const read = await mcp.readResource({ uri: `smith://loops/${id}` });
      const content = read.contents[0];
      expect(content && "text" in content ? JSON.parse(content.text) : undefined).toMatchObject({ id });

      const cancelled = parsed(
        await mcp.callTool({ name: "cancel_loop", arguments: { id, reason: "done with the test" } }),
      );
      expect(cancelled).toMatchObject({ status: { state: "cancelled" } });
      // A refused transition is a tool error naming the codes, not a protocol failure.
      const again = await mcp.callTool({ name: "retry_loop", arguments: { id, reason: "once more" } });
      expect(errorText(again)).toMatch(/^PRECONDITION_FAILED \/ invalid_transition: /);

      // The mutations are audited as the token's, like any API call.
      const audit = await api.store.audit.list({ loopId: id });
      expect(audit.items.map((e) => [e.action, e.outcome, e.actor.role])).toEqual([
        ["loops.create", "ok", "operator"],
        ["loops.steer", "ok", "operator"],
        ["loops.cancel", "ok", "operator"],
        ["loops.retry", "error", "operator"],
      ]);
    } finally {
      await mcp.close();
    }
  });

  test("a viewer token reads but may not change a loop; no token is refused at the door", async ({ api }) => {
    const { loop } = await api.client(api.tokens.operator).loops.create.mutate({
      spec: { repo: { url: "https://example.com/acme/app.git" }, prd: { kind: "path" }, agent: { provider: "replay" } },
    });
    const viewer = await connect(api, api.tokens.viewer);
    try {
      expect(parsed(await viewer.callTool({ name: "get_loop", arguments: { id: loop.id } }))).toMatchObject({
        id: loop.id,
      });
      const denied = await viewer.callTool({ name: "cancel_loop", arguments: { id: loop.id, reason: "not mine" } });
      expect(errorText(denied)).toMatch(/^FORBIDDEN: loops\.cancel needs the operator role; this token has viewer/);
      expect((await api.store.loops.getOrThrow(loop.id)).loop.status.state).toBe("unresolved");
      const audit = await api.store.audit.list();
      expect(audit.items.map((e) => [e.action, e.outcome, e.actor.id])).toContainEqual([
        "loops.cancel",
        "denied",
        expect.stringMatching(/viewer/),
      ]);
    } finally {
      await viewer.close();
    }

    await expect(connect(api, undefined)).rejects.toThrow(/401|bearer token is required/);
    await expect(connect(api, "smith_not-a-token")).rejects.toThrow(/401|invalid token/);
  });

  test("answer_loop answers a waiting loop for an operator, and is forbidden to a viewer", async ({ api }) => {
    const { loopId, r } = await lockedReplica(api);
    await r.replica.finalize.mutate({
      loopId,
      outcome: "waiting",
      reason: "question",
      message: "the agent asked a question",
      question: "Which API version should the client use?",
    });
    const viewer = await connect(api, api.tokens.viewer);
    const operator = await connect(api, api.tokens.operator);
    try {
      const denied = await viewer.callTool({ name: "answer_loop", arguments: { id: loopId, answer: "v2" } });
      expect(errorText(denied)).toMatch(/^FORBIDDEN: loops\.answer needs the operator role; this token has viewer/);
      expect((await api.store.loops.getOrThrow(loopId)).loop.status.state).toBe("waiting");

      const blank = await operator.callTool({ name: "answer_loop", arguments: { id: loopId, answer: "" } });
      expect(errorText(blank)).toMatch(/answer/);
      const answered = parsed(
        await operator.callTool({ name: "answer_loop", arguments: { id: loopId, answer: "v2, v1 is deprecated" } }),
      );
      expect(answered).toMatchObject({
        status: { state: "unresolved", reason: "answered" },
        steering: [{ message: "v2, v1 is deprecated", question: "Which API version should the client use?" }],
      });
      // Answering again is refused by the lifecycle: the loop is no longer waiting.
      const again = await operator.callTool({ name: "answer_loop", arguments: { id: loopId, answer: "v3" } });
      expect(errorText(again)).toMatch(/^PRECONDITION_FAILED \/ invalid_transition: /);
      const audit = (await api.store.audit.list()).items.filter((e) => e.action === "loops.answer");
      // A denied call is refused before its role is known to hold: the actor is the token's id.
      expect(audit.map((e) => [e.outcome, e.outcome === "denied" ? /viewer/.test(e.actor.id) : e.actor.role])).toEqual([
        ["denied", true],
        ["ok", "operator"],
        ["error", "operator"],
      ]);
    } finally {
      await viewer.close();
      await operator.close();
    }
  });
});
