import { execFileSync } from "node:child_process";

/** The user agents run as on a host where Smith runs as root (`smith up`, a root scheduler). */
export const DEFAULT_AGENT_USER = "smith-agent";

/**
 * Creates the unprivileged system user agents run as, when it does not exist yet (root only):
 * no login shell, no home directory of its own (each run gets a HOME next to its workspace), its
 * own group. Returns false when not root: the operator then runs Smith as an ordinary user, or
 * creates a user and sets SMITH_AGENT_USER (docs/security.md).
 */
export function ensureAgentUser(name: string = DEFAULT_AGENT_USER): boolean {
  if (process.getuid?.() !== 0) return false;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name))
    throw new Error(`agent user ${JSON.stringify(name)}: a user name is 1-32 of a-z, 0-9, _ and -`);
  try {
    execFileSync("id", ["-u", "--", name], { stdio: "ignore" });
    return true;
  } catch {
    // Not there yet.
  }
  execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return true;
}
