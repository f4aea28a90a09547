import { readFileSync, rmSync } from "node:fs";

export interface ReplicaToken {
  token: string;
  /** `file`: read from SMITH_TOKEN_FILE; `env`: the SMITH_TOKEN fallback (warned about). */
  source: "file" | "env";
  /** Whether the token file was removed (a read-only mount, such as a Kubernetes Secret volume, keeps it). */
  removed: boolean;
}

/**
 * Takes the replica's loop-scoped token. The executor writes it to a file (mode 0600, in the run
 * dir, outside the workspace) instead of the environment, because a process's initial environment
 * stays readable in /proc/<pid>/environ for its whole life, by every process of the same user,
 * the agent included. The file is removed as soon as it is read, before any agent runs.
 * SMITH_TOKEN in the environment is still accepted, as a documented fallback for running the
 * replica by hand; the caller warns about it.
 */
export function takeReplicaToken(env: { SMITH_TOKEN_FILE?: string; SMITH_TOKEN?: string }): ReplicaToken {
  const file = env.SMITH_TOKEN_FILE;
  if (file) {
    let token: string;
    try {
      token = readFileSync(file, "utf8").trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new Error(`SMITH_TOKEN_FILE: cannot read ${file} (${code})`, { cause: err });
    }
    if (!token) throw new Error(`SMITH_TOKEN_FILE: ${file} is empty`);
    let removed = true;
    try {
      rmSync(file, { force: true });
    } catch {
      removed = false;
    }
    return { token, source: "file", removed };
  }
  if (env.SMITH_TOKEN) return { token: env.SMITH_TOKEN, source: "env", removed: false };
  throw new Error("no replica token: set SMITH_TOKEN_FILE (or, as a fallback, SMITH_TOKEN)");
}
