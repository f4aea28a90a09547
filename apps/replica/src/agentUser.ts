import type { ProcessIdentity } from "@smith/core";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * The unprivileged user agents and gates run as, when the replica runs as root
 * (SMITH_AGENT_USER). The replica keeps its run dir, its token file, the git askpass and its own
 * process environment to itself: another uid cannot read root's 0700 directories, 0600 files or
 * /proc/<pid>/environ.
 */
export class AgentUser {
  readonly name: string;
  readonly runAs: ProcessIdentity;

  private constructor(name: string, runAs: ProcessIdentity) {
    this.name = name;
    this.runAs = runAs;
  }

  /** Looks the user up (`id`); only root may start processes as another user. */
  static resolve(name: string): AgentUser {
    if (process.getuid?.() !== 0) throw new Error(`SMITH_AGENT_USER=${name} needs the replica to run as root`);
    const id = (flag: string) => {
      try {
        return Number(execFileSync("id", [flag, "--", name], { encoding: "utf8" }).trim());
      } catch {
        throw new Error(`SMITH_AGENT_USER: no user ${JSON.stringify(name)} on this host`);
      }
    };
    const uid = id("-u");
    const gid = id("-g");
    if (uid === 0) throw new Error(`SMITH_AGENT_USER: ${name} is root; the agent needs a user of its own`);
    return new AgentUser(name, { uid, gid });
  }

  /**
   * Makes `dir` (a workspace or a baseline worktree) writable to the agent, before each of its
   * runs, since the replica's own git commands create files as root between them. The top
   * directory stays root's (git refuses a repository owned by someone else) with the agent's
   * group and mode 3770; everything under it but `.git` becomes the agent's. `.git` stays root's
   * and read-only to the agent: the replica's git reads its config and hooks, and an agent that
   * could write them would run commands as root. The sticky bit matters as much: without it the
   * agent, which may write the top directory, could rename root's `.git` away and put a `.git`
   * of its own (hooks included) in its place. Symbolic links are never followed.
   */
  grant(dir: string): void {
    chownSync(dir, 0, this.runAs.gid);
    chmodSync(dir, 0o3770);
    for (const name of readdirSync(dir)) {
      if (name === ".git") continue;
      this.own(join(dir, name));
    }
  }

  private own(path: string): void {
    const st = lstatSync(path);
    // A second hard link to a file of someone else (made where the kernel allows it) would hand
    // that file over: such files are left as they are.
    if (!st.isDirectory() && st.nlink > 1 && st.uid !== this.runAs.uid) return;
    lchownSync(path, this.runAs.uid, this.runAs.gid);
    if (st.isDirectory()) for (const name of readdirSync(path)) this.own(join(path, name));
  }

  /**
   * The agent's own HOME (CLIs keep their settings and caches there): `<workDir>.home`, outside
   * the workspace, the agent's, mode 0700.
   */
  home(workDir: string): string {
    const home = `${workDir}.home`;
    mkdirSync(home, { recursive: true, mode: 0o700 });
    chownSync(home, this.runAs.uid, this.runAs.gid);
    chmodSync(home, 0o700);
    return home;
  }

  /**
   * The environment changes the agent's processes need: their own HOME, and git's consent to
   * read a repository whose top directory is root's (read-only use: status, diff, log).
   */
  env(workDir: string): Record<string, string> {
    return {
      HOME: this.home(workDir),
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "safe.directory",
      GIT_CONFIG_VALUE_0: workDir,
    };
  }
}
