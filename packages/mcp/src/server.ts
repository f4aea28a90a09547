import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { TRPCClientError, type JournalEntry, type RouterInputs, type SmithClient } from "@smith/client";
import { LoopState } from "@smith/core";
import { z } from "zod";

export interface SmithMcpOptions {
  /**
   * The client every tool calls through. Its token decides what the tools may do: the API checks
   * the role of each call (a viewer's `cancel_loop` is FORBIDDEN) and audits the mutations.
   */
  client: SmithClient;
  /** Reported to the MCP host (default "smith"). */
  name?: string;
  /** Reported to the MCP host (default this package's version). */
  version?: string;
}

/** Bounds of `tail_journal`: an MCP call must return, so a tail ends at a count or a deadline. */
export const TAIL_LIMITS = { maxEntries: 1000, defaultEntries: 100, maxWaitMs: 60_000, defaultWaitMs: 5_000 } as const;

const LoopIdArg = z.string().describe("a loop id (26 lower-case base32 characters)");
const ReasonArg = z.string().min(1).describe("why (kept in the audit log and the journal)");

function json(value: unknown): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(value, null, 2) }] };
}

/**
 * API errors become tool errors the model can read (`isError`), naming the tRPC code and the
 * domain code: FORBIDDEN for a role the token lacks, BAD_REQUEST with the field for bad input.
 * Anything else is a bug and propagates (the SDK reports it as an internal error).
 */
async function call(run: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return json(await run());
  } catch (err) {
    if (!(err instanceof TRPCClientError)) throw err;
    const data = (err as TRPCClientError<never>).data as
      { code?: string; smith?: { code: string; details: { field?: string; limit?: number } } } | undefined;
    const code = [data?.code, data?.smith?.code].filter(Boolean).join(" / ");
    return {
      isError: true,
      content: [{ type: "text", text: `${code || "ERROR"}: ${err.message}` }],
      structuredContent: { error: { code: data?.code, smith: data?.smith, message: err.message } },
    };
  }
}

/** PRD text as the API takes it: JSON as is, markdown converted by the API's importer first. */
async function prdContent(client: SmithClient, prd: string): Promise<string> {
  if (prd.trimStart().startsWith("{")) return prd;
  return (await client.prd.importMarkdown.mutate({ markdown: prd })).content;
}

/** Collects journal entries after `afterSeq` until `maxEntries` arrived or `waitMs` passed. */
function tailJournal(
  client: SmithClient,
  input: { loopId: string; afterSeq: number; maxEntries: number; waitMs: number },
): Promise<{ entries: JournalEntry[]; lastSeq: number; ended: "limit" | "deadline" }> {
  return new Promise((resolve, reject) => {
    const entries: JournalEntry[] = [];
    const finish = (ended: "limit" | "deadline"): void => {
      clearTimeout(timer);
      sub.unsubscribe();
      resolve({ entries, lastSeq: entries.at(-1)?.seq ?? input.afterSeq, ended });
    };
    const timer = setTimeout(() => finish("deadline"), input.waitMs);
    const sub = client.journal.tail.subscribe(
      { loopId: input.loopId, afterSeq: input.afterSeq },
      {
        onData: ({ data }) => {
          entries.push(data);
          if (entries.length >= input.maxEntries) finish("limit");
        },
        onError: (err) => {
          clearTimeout(timer);
          sub.unsubscribe();
          reject(err);
        },
      },
    );
  });
}

/**
 * Smith as an MCP server: tools over loops, journals, PRDs and cost, and each loop as a resource
 * (`smith://loops/{id}`). Transport-agnostic: `smith mcp` connects it to stdio, the API serves it
 * over streamable HTTP at /mcp.
 */
export function createSmithMcpServer(options: SmithMcpOptions): McpServer {
  const { client } = options;
  const server = new McpServer({ name: options.name ?? "smith", version: options.version ?? "0.1.0" });

  server.registerTool(
    "list_loops",
    {
      title: "List loops",
      description: "Loops, newest first, optionally of some states; pass nextCursor back as cursor for the next page.",
      inputSchema: {
        state: z.array(LoopState).max(5).optional(),
        repo: z.string().max(2048).optional().describe("only loops of this repository URL"),
        limit: z.number().int().min(1).max(500).default(50),
        cursor: z.string().optional(),
      },
      annotations: { readOnlyHint: true },
    },
    (args) => call(() => client.loops.list.query(args)),
  );

  server.registerTool(
    "get_loop",
    {
      title: "Get a loop",
      description: "One loop: spec, status (state, attempt, iteration, progress, reason), cost, evidence.",
      inputSchema: { id: LoopIdArg },
      annotations: { readOnlyHint: true },
    },
    ({ id }) => call(() => client.loops.get.query({ id })),
  );

  server.registerTool(
    "create_loop",
    {
      title: "Create a loop",
      description:
        "Queues a loop that works through a PRD in a repository. Give the PRD inline (JSON in either shape, or markdown) or a path inside the repository. Needs the operator role.",
      inputSchema: {
        repoUrl: z.string().min(1).max(2048).describe("what git clone accepts"),
        baseBranch: z.string().max(255).optional(),
        title: z.string().max(200).optional(),
        prd: z.string().min(1).optional().describe("the PRD document: JSON (either shape) or markdown"),
        prdPath: z
          .string()
          .max(1024)
          .optional()
          .describe("path of the PRD in the repository (default .agents/tasks/prd.json)"),
        provider: z.enum(["claude", "codex", "command", "replay"]).optional(),
        model: z.string().max(200).optional(),
        qualityGates: z.array(z.string().min(1)).max(50).optional(),
        maxCostUsd: z.number().positive().optional(),
        maxIterations: z.number().int().min(1).optional(),
        priority: z.number().int().min(0).max(999).optional(),
        labels: z.record(z.string(), z.string()).optional(),
        idempotencyKey: z.string().min(1).max(256).optional(),
      },
    },
    (args) =>
      call(async () => {
        const prd = args.prd
          ? { kind: "inline" as const, content: await prdContent(client, args.prd), path: args.prdPath }
          : { kind: "path" as const, path: args.prdPath };
        const input: RouterInputs["loops"]["create"] = {
          spec: {
            title: args.title,
            repo: { url: args.repoUrl, baseBranch: args.baseBranch },
            prd,
            ...(args.provider || args.model ? { agent: { provider: args.provider, model: args.model } } : {}),
            qualityGates: args.qualityGates,
            limits: { maxCostUsd: args.maxCostUsd, maxIterations: args.maxIterations },
          },
          priority: args.priority,
          labels: args.labels,
          idempotencyKey: args.idempotencyKey,
        };
        return client.loops.create.mutate(input);
      }),
  );

  server.registerTool(
    "cancel_loop",
    {
      title: "Cancel a loop",
      description: "Stops a loop (its replica is stopped). Needs the operator role.",
      inputSchema: { id: LoopIdArg, reason: ReasonArg },
      annotations: { destructiveHint: true },
    },
    (args) => call(() => client.loops.cancel.mutate(args)),
  );

  server.registerTool(
    "retry_loop",
    {
      title: "Retry a flatlined loop",
      description: "Gives a flatline loop a fresh set of attempts. Needs the operator role.",
      inputSchema: { id: LoopIdArg, reason: ReasonArg },
    },
    (args) => call(() => client.loops.retry.mutate(args)),
  );

  server.registerTool(
    "steer_loop",
    {
      title: "Steer a loop",
      description: "A message for the agent, delivered into the loop's next iteration. Needs the operator role.",
      inputSchema: { id: LoopIdArg, message: z.string().min(1) },
    },
    (args) => call(() => client.loops.steer.mutate(args)),
  );

  server.registerTool(
    "answer_loop",
    {
      title: "Answer a waiting loop",
      description:
        "Answers the question of a loop in the waiting state: it goes back to the queue and its next attempt gets the answer (and the question) in its prompt. Needs the operator role.",
      inputSchema: { id: LoopIdArg, answer: z.string().min(1).describe("the answer to the loop's question") },
    },
    (args) => call(() => client.loops.answer.mutate(args)),
  );

  server.registerTool(
    "read_journal",
    {
      title: "Read a journal page",
      description:
        "Journal entries of a loop after afterSeq, oldest first (order desc: the newest). `more` says whether another page follows.",
      inputSchema: {
        loopId: LoopIdArg,
        afterSeq: z.number().int().min(0).default(0),
        limit: z.number().int().min(1).max(500).default(100),
        order: z.enum(["asc", "desc"]).default("asc"),
      },
      annotations: { readOnlyHint: true },
    },
    (args) => call(() => client.journal.list.query(args)),
  );

  server.registerTool(
    "tail_journal",
    {
      title: "Tail a journal",
      description: `Waits for journal entries after afterSeq and returns them when maxEntries arrived or waitMs passed (at most ${TAIL_LIMITS.maxEntries} entries, ${TAIL_LIMITS.maxWaitMs} ms). Call again with lastSeq as afterSeq to go on.`,
      inputSchema: {
        loopId: LoopIdArg,
        afterSeq: z.number().int().min(0).default(0),
        maxEntries: z.number().int().min(1).max(TAIL_LIMITS.maxEntries).default(TAIL_LIMITS.defaultEntries),
        waitMs: z.number().int().min(0).max(TAIL_LIMITS.maxWaitMs).default(TAIL_LIMITS.defaultWaitMs),
      },
      annotations: { readOnlyHint: true },
    },
    (args) => call(() => tailJournal(client, args)),
  );

  server.registerTool(
    "validate_prd",
    {
      title: "Validate a PRD",
      description:
        "The validation report of a PRD (JSON in either shape, or markdown): valid, readiness, and each error and warning with its path and a suggestion.",
      inputSchema: { prd: z.string().min(1) },
      annotations: { readOnlyHint: true },
    },
    ({ prd }) =>
      call(async () =>
        prd.trimStart().startsWith("{")
          ? client.prd.validate.query({ content: prd })
          : (await client.prd.importMarkdown.mutate({ markdown: prd })).report,
      ),
  );

  server.registerTool(
    "report_cost",
    {
      title: "Report cost",
      description:
        "Tokens and USD of one loop (with its budget), or totals over all loops (optionally of some states).",
      inputSchema: { loopId: LoopIdArg.optional(), state: z.array(LoopState).max(5).optional() },
      annotations: { readOnlyHint: true },
    },
    ({ loopId, state }) =>
      call(() => (loopId ? client.cost.get.query({ loopId }) : client.cost.summary.query({ state }))),
  );

  server.registerResource(
    "loop",
    new ResourceTemplate("smith://loops/{id}", {
      list: async () => {
        const page = await client.loops.list.query({ limit: 100 });
        return {
          resources: page.items.map((loop) => ({
            uri: `smith://loops/${loop.id}`,
            name: loop.spec.title ?? loop.id,
            description: `${loop.status.state} · ${loop.spec.repo.url}`,
            mimeType: "application/json",
          })),
        };
      },
    }),
    { title: "Loop", description: "A loop as JSON: spec, status, cost, evidence.", mimeType: "application/json" },
    async (uri, { id }) => {
      const loop = await client.loops.get.query({ id: String(id) });
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(loop, null, 2) }] };
    },
  );

  return server;
}
