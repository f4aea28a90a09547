import { isAbsolute, resolve } from "node:path";
import { Context, readContexts, type ContextFile } from "../config.ts";
import { UsageError } from "./errors.ts";

export interface SetContextChange {
  url?: string;
  token?: string;
  /** As given on the command line; stored absolute (resolved against `cwd`). */
  tokenFile?: string;
}

/**
 * `config set-context`: creates a context or changes the given fields of an existing one. A new
 * token replaces a token file and the other way round. The first context becomes the current
 * one; otherwise the current context stays as it was (`use-context` switches).
 */
export function applySetContext(
  file: ContextFile,
  name: string,
  change: SetContextChange,
  cwd: string,
): { file: ContextFile; created: boolean } {
  if (!name.trim()) throw new UsageError("a context name cannot be empty");
  const existing = file.contexts[name];
  const url = change.url ?? existing?.url;
  if (url === undefined) throw new UsageError(`context ${JSON.stringify(name)} is new: --url URL is required`);
  let auth: { token?: string; tokenFile?: string } = existing ? pickAuth(existing) : {};
  if (change.token !== undefined) auth = { token: change.token };
  if (change.tokenFile !== undefined)
    auth = { tokenFile: isAbsolute(change.tokenFile) ? change.tokenFile : resolve(cwd, change.tokenFile) };
  const parsed = Context.safeParse({ url, ...auth });
  if (!parsed.success)
    throw new UsageError(`--url must be an absolute URL such as http://127.0.0.1:7070; got ${JSON.stringify(url)}`);
  return {
    file: { ...file, currentContext: file.currentContext ?? name, contexts: { ...file.contexts, [name]: parsed.data } },
    created: !existing,
  };
}

/** `config use-context`: the named context must exist. */
export function applyUseContext(file: ContextFile, name: string, configPath: string): ContextFile {
  if (!file.contexts[name]) {
    const known = Object.keys(file.contexts).sort();
    throw new UsageError(
      `no context named ${JSON.stringify(name)} in ${configPath}${known.length ? ` (known: ${known.join(", ")})` : ""}`,
    );
  }
  return { ...file, currentContext: name };
}

function pickAuth(c: Context): { token?: string; tokenFile?: string } {
  return c.token !== undefined ? { token: c.token } : c.tokenFile !== undefined ? { tokenFile: c.tokenFile } : {};
}

/** The contexts file (empty when there is none); an unreadable one is an error that names it. */
export function loadContexts(configPath: string): ContextFile {
  try {
    return readContexts(configPath);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      message.includes(configPath) ? message : `cannot read the contexts file ${configPath}: ${message}`,
      { cause: err },
    );
  }
}
