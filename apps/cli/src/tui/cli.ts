#!/usr/bin/env node
// A standalone entry for the TUI (the PTY test drives it): `node apps/cli/src/tui/cli.ts
// --server URL (--token TOKEN | --token-file PATH) [--context NAME]`. `smith tui` is the
// command users run; it finds the URL and token in the smithctl context instead.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runTui } from "./index.ts";

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      server: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      context: { type: "string", default: "direct" },
    },
  });
  const token = values.token ?? (values["token-file"] ? readFileSync(values["token-file"], "utf8").trim() : undefined);
  if (!values.server || !token) {
    process.stderr.write("usage: cli.ts --server URL (--token TOKEN | --token-file PATH) [--context NAME]\n");
    return 2;
  }
  return runTui({ url: values.server, token, context: values.context });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`smith tui: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
