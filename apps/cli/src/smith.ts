#!/usr/bin/env node
import { SMITH_VERSION, SmithError } from "@smith/core";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultConfigPath } from "./config.ts";
import { prdCommand } from "./prd.ts";
import { up } from "./up.ts";
import { runPrdGenerate, runPrdNew } from "./wizard/index.ts";
import { resolveEndpoint } from "./ctl/run.ts";
import { runTui } from "./tui/index.ts";
import { runMcpStdio } from "./mcp.ts";
import { readFileSync } from "node:fs";

const HELP = `smith ${SMITH_VERSION}: autonomous coding loops at scale

Usage:
  smith up [--demo] [--state-dir DIR] [--etcd URLS] [--etcd-port N] [--api-port N] [--agent-user NAME [--agent-pool N] | --no-agent-user] [--no-tui] [--verbose]
      Run etcd, the API and a scheduler on this machine. --demo also creates a demo
      repository and runs a loop on it with the replay agent (no network, no API key).
      As root, agents run as the unprivileged users smith-agent, smith-agent-2 ... (created;
      one per running loop, --agent-pool N of them, default 4; --agent-user NAME for another
      name, --no-agent-user to keep them root).
      On a terminal it opens the dashboard (closing it stops the stack); without one it
      prints progress lines (and, with --demo, exits when the demo loop finishes).
  smith tui [--server URL] [--token T] [--context NAME]
      The live dashboard (connection as smithctl: flags > --context > SMITH_API_URL/SMITH_TOKEN >
      the current context, which \`smith up\` writes)
  smith mcp [--server URL] [--token T] [--context NAME]
      Smith's MCP server on stdio, for agent hosts: tools over loops, journals, PRDs and cost,
      loops as resources; it may do what the token's role allows (connection as smith tui)
  smith prd new [--out PATH] [--markdown]  Write a PRD with an interactive wizard (default
                                           .agents/tasks/prd.json; --markdown adds prd.md)
  smith prd generate "REQUEST" [--agent claude|codex|command] [--agent-command CMD] [--out PATH] [--markdown]
                                           An agent drafts the PRD; review it in the wizard
  smith prd validate [PATH] [-o json]      Check a PRD (exit 1 when it is not ready)
  smith prd import MARKDOWN --out JSON     Markdown → PRD JSON
  smith prd export JSON --out MARKDOWN     PRD JSON → Markdown
  smith version

Environment: SMITH_STATE_DIR (default ~/.local/state/smith), SMITH_CONFIG (smithctl contexts file).
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      demo: { type: "boolean", default: false },
      "state-dir": { type: "string" },
      etcd: { type: "string" },
      "etcd-port": { type: "string", default: "23790" },
      "api-port": { type: "string", default: "7070" },
      verbose: { type: "boolean", default: false },
      "agent-user": { type: "string" },
      "agent-pool": { type: "string" },
      "no-agent-user": { type: "boolean", default: false },
      "no-tui": { type: "boolean", default: false },
      output: { type: "string", short: "o" },
      out: { type: "string" },
      markdown: { type: "boolean", default: false },
      agent: { type: "string" },
      "agent-command": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
      server: { type: "string" },
      token: { type: "string" },
      context: { type: "string" },
    },
  });
  const [command, ...rest] = positionals;
  const print = (s: string) => process.stdout.write(s + "\n");
  if (values.help || !command || command === "help") {
    print(HELP);
    return 0;
  }
  switch (command) {
    case "version":
      print(SMITH_VERSION);
      return 0;
    case "tui":
    case "mcp": {
      const configPath = defaultConfigPath(process.env);
      const endpoint = resolveEndpoint(
        { server: values.server, token: values.token, context: values.context },
        { env: process.env, configPath, readFile: (p: string) => readFileSync(p, "utf8") },
      );
      if (!endpoint.token)
        throw new SmithError(
          "invalid_argument",
          "no token: pass --token, set SMITH_TOKEN, or use a context with a token (smith up writes one)",
          { field: "token" },
        );
      if (command === "mcp") return runMcpStdio({ url: endpoint.url, token: endpoint.token });
      return runTui({ url: endpoint.url, token: endpoint.token, context: endpoint.contextName ?? "(flags)" });
    }
    case "prd": {
      const outPath = values.out ?? ".agents/tasks/prd.json";
      if (rest[0] === "new") return runPrdNew({ outPath, markdown: values.markdown });
      if (rest[0] === "generate") {
        const request = rest.slice(1).join(" ").trim();
        if (!request)
          throw new SmithError(
            "invalid_argument",
            'usage: smith prd generate "<request>" [--agent claude|codex|command]',
            { field: "request" },
          );
        const agent = values.agent ?? "claude";
        if (agent !== "claude" && agent !== "codex" && agent !== "command") {
          throw new SmithError("invalid_argument", `--agent must be claude, codex or command, got ${agent}`, {
            field: "agent",
          });
        }
        return runPrdGenerate({
          request,
          agent,
          agentCommand: values["agent-command"],
          binaries: { claude: process.env.SMITH_CLAUDE_BIN, codex: process.env.SMITH_CODEX_BIN },
          env: process.env,
          outPath,
          markdown: values.markdown,
          cwd: process.cwd(),
        });
      }
      return prdCommand(rest, { output: values.output, out: values.out }, print);
    }
    case "up": {
      const port = (name: string, v: string | undefined) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535)
          throw new SmithError("invalid_argument", `--${name} must be a port number (0-65535), got ${v}`, {
            field: name,
          });
        return n;
      };
      const agentPool = (v: string) => {
        if (!/^\d{1,2}$/.test(v) || Number(v) < 1 || Number(v) > 64)
          throw new SmithError("invalid_argument", `--agent-pool must be a whole number from 1 to 64, got ${v}`, {
            field: "agent-pool",
          });
        return Number(v);
      };
      // The first signal stops the stack in order (each part's stop is bounded); a second one, or
      // the stop overrunning its bound, kills what the stack started and exits at once.
      let forcedKill = () => {};
      const forceExit = (why: string) => {
        process.stderr.write(`smith: ${why}: killing etcd and the replicas, exiting now\n`);
        forcedKill();
        process.exit(130);
      };
      const stopSignal = new Promise<string>((resolve) => {
        let received = 0;
        const on = (signal: NodeJS.Signals) => {
          received++;
          if (received > 1) forceExit(`second ${signal}`);
          setTimeout(() => forceExit("the stop took longer than 40 s"), 40_000).unref();
          resolve(signal);
        };
        process.on("SIGINT", on);
        process.on("SIGTERM", on);
      });
      return up({
        stateDir: values["state-dir"] ?? process.env.SMITH_STATE_DIR ?? join(homedir(), ".local", "state", "smith"),
        etcd: values.etcd
          ? values.etcd
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined,
        etcdPort: port("etcd-port", values["etcd-port"]),
        apiPort: port("api-port", values["api-port"]),
        demo: values.demo,
        configPath: defaultConfigPath(process.env),
        env: process.env,
        out: print,
        stopSignal,
        onForcedExit: (kill) => (forcedKill = kill),
        exitAfterDemo: values.demo && !process.stdout.isTTY,
        // On a terminal the stack opens the dashboard (`--no-tui` keeps plain progress lines).
        ...(process.stdout.isTTY && process.stdin.isTTY && !values["no-tui"]
          ? { dashboard: (c: { url: string; token: string }) => runTui({ ...c, context: "local" }) }
          : {}),
        verbose: values.verbose,
        ...(values["agent-pool"] !== undefined ? { agentPool: agentPool(values["agent-pool"]) } : {}),
        ...(values["no-agent-user"]
          ? { agentUser: false as const }
          : values["agent-user"] !== undefined
            ? { agentUser: values["agent-user"] }
            : {}),
      });
    }
    default:
      throw new SmithError("invalid_argument", `unknown command ${JSON.stringify(command)}; see smith --help`, {
        field: "command",
      });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`smith: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof SmithError && err.code === "invalid_argument" ? 2 : 1);
  },
);
