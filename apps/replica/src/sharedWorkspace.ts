import { chmodSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * The workspace shared with the agent runner's container (SMITH_AGENT_RUNNER_SOCKET): another
 * uid, no root on either side, one group (the Pod's fsGroup). Before each untrusted run the
 * replica makes what it created group-writable, so the agent can edit it, except `.git`, which
 * stays writable by the replica's uid only: an agent that could write its config or hooks would
 * have the replica's git run its commands with the replica's token in reach. The top directory
 * gets mode 3770 (setgid: new entries keep the shared group; sticky: the agent can neither
 * rename nor remove `.git`, which it does not own, to put a `.git` of its own in its place).
 * Symbolic links are never followed, and a file with a second hard link is left alone (a link
 * the agent made to a file of the replica's, `.git/config` say, must not be made writable).
 */
export class SharedWorkspace {
  private readonly uid: number;

  constructor(uid = process.getuid?.() ?? -1) {
    this.uid = uid;
  }

  grant(dir: string): void {
    const top = lstatSync(dir);
    if (!top.isDirectory() || top.uid !== this.uid) throw new Error(`${dir} is not a directory of the replica's`);
    chmodSync(dir, 0o3770);
    for (const name of readdirSync(dir)) {
      if (name === ".git") continue;
      this.share(join(dir, name));
    }
  }

  private share(path: string): void {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      // Setgid keeps the shared group on what the agent creates in it.
      if (st.uid === this.uid && (st.mode & 0o2070) !== 0o2070) chmodSync(path, (st.mode & 0o7777) | 0o2070);
      for (const name of readdirSync(path)) this.share(join(path, name));
      return;
    }
    if (!st.isFile() || st.uid !== this.uid || st.nlink > 1) return;
    // Group read and write; execute where the owner has it (scripts stay runnable).
    const mode = (st.mode & 0o7777) | 0o060 | ((st.mode & 0o100) >> 3);
    if (mode !== (st.mode & 0o7777)) chmodSync(path, mode);
  }

  /**
   * Git's consent, in the agent's processes, to read a repository whose top directory another
   * uid owns (status, diff, log).
   */
  env(dir: string): Record<string, string> {
    return { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "safe.directory", GIT_CONFIG_VALUE_0: dir };
  }
}
