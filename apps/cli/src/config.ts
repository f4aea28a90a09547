import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";

/** smithctl's contexts file (kubectl-style): `~/.config/smith/config.json`. */
export const Context = z.object({
  url: z.string().url(),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
});
export type Context = z.infer<typeof Context>;
export const ContextFile = z.object({
  currentContext: z.string().optional(),
  contexts: z.record(z.string(), Context).default({}),
});
export type ContextFile = z.infer<typeof ContextFile>;

export function defaultConfigPath(env: NodeJS.ProcessEnv): string {
  return env.SMITH_CONFIG ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "smith", "config.json");
}

export function readContexts(path: string): ContextFile {
  if (!existsSync(path)) return { contexts: {} };
  const parsed = ContextFile.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success)
    throw new Error(
      `${path} is not a valid smith config: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}

export function writeContexts(path: string, file: ContextFile): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function setContext(path: string, name: string, context: Context, use = true): void {
  const file = readContexts(path);
  file.contexts[name] = context;
  if (use) file.currentContext = name;
  writeContexts(path, file);
}
