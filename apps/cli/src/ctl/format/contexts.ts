import type { ContextFile } from "../../config.ts";
import { renderTable } from "./table.ts";

/** `smithctl config get-contexts`: never prints a token, only where it comes from. */
export function contextsTable(file: ContextFile): string {
  return renderTable(
    ["CURRENT", "NAME", "SERVER", "AUTH"],
    Object.entries(file.contexts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, c]) => [
        name === file.currentContext ? "*" : "",
        name,
        c.url,
        c.token ? "token" : c.tokenFile ? `token-file ${c.tokenFile}` : "<none>",
      ]),
  );
}

/** The contexts file for `-o json|yaml`, with tokens masked. */
export function redactedContexts(file: ContextFile): ContextFile {
  return {
    ...(file.currentContext !== undefined ? { currentContext: file.currentContext } : {}),
    contexts: Object.fromEntries(
      Object.entries(file.contexts).map(([name, c]) => [name, c.token ? { ...c, token: "REDACTED" } : c]),
    ),
  };
}
