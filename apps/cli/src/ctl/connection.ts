import { dirname, isAbsolute, resolve } from "node:path";
import type { ContextFile } from "../config.ts";
import { UsageError } from "./errors.ts";

/** `--server`, `--token`, `--context`. */
export interface ConnectionFlags {
  server?: string;
  token?: string;
  context?: string;
}

/** `SMITH_API_URL`, `SMITH_TOKEN`, `SMITH_CONTEXT` (empty values count as unset). */
export interface ConnectionEnv {
  SMITH_API_URL?: string;
  SMITH_TOKEN?: string;
  SMITH_CONTEXT?: string;
}

type Source = "flag" | "env" | "context";

/** Where the token comes from: a value, a file still to be read, or nothing (health calls only). */
type TokenRef =
  | { kind: "value"; value: string; source: Source }
  | { kind: "file"; path: string; source: "context" }
  | { kind: "none" };

export interface Connection {
  url: string;
  urlSource: Source;
  token: TokenRef;
  /** The context that supplied a value, if one did. */
  contextName?: string;
}

/**
 * Resolves the API URL and token, field by field, from (highest first):
 *   1. `--server` / `--token`;
 *   2. the context named by `--context`;
 *   3. `SMITH_API_URL` / `SMITH_TOKEN`;
 *   4. the context named by `SMITH_CONTEXT`, else the file's current context.
 * A context named by the flag or the variable must exist. A relative `tokenFile` is relative to
 * the contexts file. Pure: the token file is returned as a path for the caller to read.
 */
export function resolveConnection(
  flags: ConnectionFlags,
  env: ConnectionEnv,
  file: ContextFile,
  configPath: string,
): Connection {
  const flagContext = nonEmpty(flags.context);
  const envContext = flagContext ? undefined : nonEmpty(env.SMITH_CONTEXT);
  const named = flagContext ?? envContext;
  if (named !== undefined && !file.contexts[named]) {
    throw new UsageError(
      `context ${JSON.stringify(named)} (from ${flagContext ? "--context" : "SMITH_CONTEXT"}) is not in ${configPath}`,
    );
  }
  const fallbackName = named ?? file.currentContext;
  const fallback = fallbackName !== undefined ? file.contexts[fallbackName] : undefined;
  if (fallbackName !== undefined && !fallback)
    throw new UsageError(
      `the current context ${JSON.stringify(fallbackName)} is not in ${configPath}; run smithctl config use-context`,
    );
  // The context named by --context ranks above the environment; SMITH_CONTEXT or the current one below it.
  const high = flagContext ? fallback : undefined;
  const low = flagContext ? undefined : fallback;

  const urlCandidates: [string | undefined, Source][] = [
    [nonEmpty(flags.server), "flag"],
    [high?.url, "context"],
    [nonEmpty(env.SMITH_API_URL), "env"],
    [low?.url, "context"],
  ];
  const url = urlCandidates.find(([v]) => v !== undefined);
  if (!url?.[0]) {
    throw new UsageError(
      `no API server: pass --server URL, set SMITH_API_URL, or add a context (smithctl config set-context NAME --url URL; contexts file ${configPath})`,
    );
  }

  const contextToken = (c: typeof fallback): TokenRef | undefined => {
    if (!c) return undefined;
    const t = nonEmpty(c.token);
    if (t) return { kind: "value", value: t, source: "context" };
    const f = nonEmpty(c.tokenFile);
    if (f) return { kind: "file", path: isAbsolute(f) ? f : resolve(dirname(configPath), f), source: "context" };
    return undefined;
  };
  const flagToken = nonEmpty(flags.token);
  const envToken = nonEmpty(env.SMITH_TOKEN);
  const token: TokenRef = (flagToken !== undefined ? { kind: "value", value: flagToken, source: "flag" } : undefined) ??
    contextToken(high) ??
    (envToken !== undefined ? { kind: "value", value: envToken, source: "env" } : undefined) ??
    contextToken(low) ?? { kind: "none" };

  const usedContext = url[1] === "context" || (token.kind !== "none" && token.source === "context");
  return {
    url: url[0],
    urlSource: url[1],
    token,
    ...(usedContext && fallbackName !== undefined ? { contextName: fallbackName } : {}),
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}
