import type { GitCredential } from "@smith/core";
import { chmodSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Git commands that talk to the remote and may ask for a password. */
const NETWORK_COMMANDS = new Set(["clone", "fetch", "ls-remote", "push", "pull"]);

/** Installation tokens live an hour; one this close to expiry is replaced before a git call. */
const REFRESH_BEFORE_MS = 5 * 60_000;

/**
 * Hands the loop's git token to the replica's own git, and to nothing else. Git reads it through
 * GIT_ASKPASS: a 0700 script in a 0700 directory outside the workspace that prints a 0600 token
 * file. The token file exists only while a network git command of the replica runs, so that the
 * agent (which runs between those commands, in a sanitized environment without GIT_ASKPASS)
 * finds nothing: not in its env, not in the workspace, not in any argv, not on disk. Other
 * credential helpers are switched off for these commands so that git never stores the token.
 */
export class GitAskpass {
  private readonly dir: string;
  private credential: GitCredential;
  private readonly refresh: () => Promise<GitCredential>;
  private armed = 0;

  constructor(credential: GitCredential, refresh: () => Promise<GitCredential>) {
    this.credential = credential;
    this.refresh = refresh;
    this.dir = mkdtempSync(join(tmpdir(), "smith-askpass-"));
    chmodSync(this.dir, 0o700);
    writeFileSync(join(this.dir, "username"), `${credential.username}\n`, { mode: 0o600 });
    const script = join(this.dir, "askpass");
    // git calls it with a prompt: "Username for '<url>': " or "Password for '<url>': ".
    writeFileSync(
      script,
      [
        "#!/bin/sh",
        `dir='${this.dir}'`,
        'case "$1" in',
        '  Username*) exec cat "$dir/username" ;;',
        '  *) exec cat "$dir/token" ;;',
        "esac",
        "",
      ].join("\n"),
      { mode: 0o700 },
    );
  }

  /** The variables the replica's git runs with (never the agent's or the gates'). */
  env(): Record<string, string> {
    return {
      GIT_ASKPASS: join(this.dir, "askpass"),
      // `credential.helper=` empties the helper list: no store/cache/manager keeps the token.
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "credential.helper",
      GIT_CONFIG_VALUE_0: "",
    };
  }

  /** Runs one git command; a network one with the token file in place for its duration only. */
  async around<T>(args: readonly string[], run: () => Promise<T>): Promise<T> {
    if (!NETWORK_COMMANDS.has(args[0] ?? "")) return run();
    if (this.credential.expiresAt && Date.parse(this.credential.expiresAt) - Date.now() < REFRESH_BEFORE_MS)
      this.credential = await this.refresh();
    const tokenFile = join(this.dir, "token");
    if (this.armed++ === 0) writeFileSync(tokenFile, `${this.credential.token}\n`, { mode: 0o600 });
    try {
      return await run();
    } finally {
      if (--this.armed === 0) unlinkSync(tokenFile);
    }
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Variables an agent must not inherit: another askpass or git config could hand it a token. */
export const GIT_AUTH_VARIABLES = /^(GIT_ASKPASS|SSH_ASKPASS|GIT_CONFIG_(COUNT|KEY_\d+|VALUE_\d+|PARAMETERS))$/;
