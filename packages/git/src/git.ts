import { SmithError, tailText } from "@smith/core";
import { execFile } from "node:child_process";

/** The transports git may use: `GIT_ALLOW_PROTOCOL` (ext::, fd:: and the rest are never in it). */
type GitProtocol = "https" | "http" | "ssh" | "file";

/** Why a clone failed for good: a retry of the same clone cannot succeed. */
export type PermanentGitFailure = "repo-not-found" | "auth-failed" | "protocol-not-allowed";

export interface GitOptions {
  /** The working tree. */
  cwd: string;
  /** Environment for git (sanitized by the caller); GIT_TERMINAL_PROMPT=0 is always added. */
  env?: Record<string, string>;
  /**
   * The only transports git may use, for the clone and everything it pulls in (submodules,
   * redirects, alternates) (default https and ssh). A caller passes the one its remote needs.
   */
  allowProtocols?: readonly GitProtocol[];
  /** Per-command timeout (default 5 minutes: clones and pushes of large repos). */
  timeoutMs?: number;
  author?: { name: string; email: string };
  /**
   * Wraps each command (e.g. to put a credential in place for the network ones only); receives
   * the command's arguments. Its variables (`authEnv`) are added to this git's environment only.
   */
  auth?: { around<T>(args: readonly string[], run: () => Promise<T>): Promise<T> };
  authEnv?: Record<string, string>;
}

export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A git working tree, driven through the git CLI. */
export class Git {
  readonly cwd: string;
  private readonly env: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly author: { name: string; email: string };
  private readonly auth: GitOptions["auth"];

  constructor(options: GitOptions) {
    this.cwd = options.cwd;
    this.env = {
      ...(options.env ?? {}),
      ...(options.authEnv ?? {}),
      GIT_TERMINAL_PROMPT: "0",
      GIT_ALLOW_PROTOCOL: (options.allowProtocols ?? ["https", "ssh"]).join(":"),
    };
    this.auth = options.auth;
    this.timeoutMs = options.timeoutMs ?? 5 * 60_000;
    this.author = options.author ?? { name: "Smith", email: "smith@localhost" };
  }

  /** Runs git; a non-zero exit is a `SmithError` unless `allowFailure`. */
  async run(args: string[], options: { allowFailure?: boolean; cwd?: string } = {}): Promise<GitResult> {
    return this.auth ? this.auth.around(args, () => this.exec(args, options)) : this.exec(args, options);
  }

  private async exec(args: string[], options: { allowFailure?: boolean; cwd?: string }): Promise<GitResult> {
    const env = {
      ...this.env,
      GIT_AUTHOR_NAME: this.author.name,
      GIT_AUTHOR_EMAIL: this.author.email,
      GIT_COMMITTER_NAME: this.author.name,
      GIT_COMMITTER_EMAIL: this.author.email,
    };
    const result = await new Promise<GitResult>((resolve) => {
      execFile(
        "git",
        args,
        {
          cwd: options.cwd ?? this.cwd,
          env,
          timeout: this.timeoutMs,
          maxBuffer: 64 * 1024 * 1024,
          killSignal: "SIGKILL",
        },
        (err, stdout, stderr) => {
          const code = err
            ? typeof (err as { code?: unknown }).code === "number"
              ? (err as { code: number }).code
              : 1
            : 0;
          resolve({ stdout: String(stdout), stderr: String(stderr), exitCode: code });
        },
      );
    });
    if (result.exitCode !== 0 && !options.allowFailure) {
      throw new SmithError(
        "internal",
        `git ${args[0] ?? ""} failed (exit ${result.exitCode}): ${tailText(result.stderr.trim() || result.stdout.trim(), 2000)}`,
        {
          command: `git ${args.join(" ")}`,
          exitCode: result.exitCode,
        },
      );
    }
    return result;
  }

  /**
   * Clones `url` into this working tree's directory (which must not exist or be empty). A
   * failure a retry cannot fix carries `details.permanent` (a `PermanentGitFailure`).
   */
  async clone(url: string): Promise<void> {
    // `--` ends the options: a URL or path is never read as one (`--upload-pack=...`).
    const r = await this.run(["clone", "--no-tags", "--quiet", "--", url, this.cwd], { cwd: "/", allowFailure: true });
    if (r.exitCode === 0) return;
    const stderr = r.stderr.trim() || r.stdout.trim();
    const permanent = permanentCloneFailure(stderr);
    throw new SmithError("internal", `git clone failed (exit ${r.exitCode}): ${tailText(stderr, 2000)}`, {
      command: "git clone",
      exitCode: r.exitCode,
      ...(permanent ? { permanent } : {}),
    });
  }

  async remoteBranchExists(branch: string, remote = "origin"): Promise<boolean> {
    const r = await this.run(["ls-remote", "--exit-code", "--heads", "--", remote, branch], { allowFailure: true });
    if (r.exitCode === 2) return false;
    if (r.exitCode !== 0) throw new SmithError("internal", `git ls-remote failed: ${r.stderr.trim()}`);
    return true;
  }

  async fetch(branch: string, remote = "origin"): Promise<void> {
    await this.run(["fetch", "--quiet", "--", remote, `+refs/heads/${branch}:refs/remotes/${remote}/${branch}`]);
  }

  /** Creates (or resets) `branch` at `startPoint` and checks it out. */
  async checkoutNew(branch: string, startPoint: string): Promise<void> {
    // The trailing `--` makes git read `startPoint` as a revision, never as a path.
    await this.run(["checkout", "--quiet", "-B", branch, startPoint, "--"]);
  }

  async headSha(): Promise<string> {
    return (await this.run(["rev-parse", "HEAD"])).stdout.trim();
  }

  /** Paths changed in the working tree (tracked and untracked), excluding `ignore`. */
  async changedPaths(ignore: string[] = []): Promise<string[]> {
    const out = (await this.run(["status", "--porcelain=v1", "-z", "--untracked-files=all"])).stdout;
    const paths: string[] = [];
    const parts = out.split("\0").filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const entry = parts[i] ?? "";
      const status = entry.slice(0, 2);
      paths.push(entry.slice(3));
      // A rename is followed by its source path.
      if (status.startsWith("R") || status.startsWith("C")) i++;
    }
    return paths.filter((p) => !ignore.includes(p));
  }

  /** Stages every change in the working tree (what .gitignore excludes stays out). */
  async stageAll(): Promise<void> {
    await this.run(["add", "--all"]);
  }

  /**
   * Commits what is staged. The repository's own hooks run unless `noVerify`; a hook (or anything
   * else) refusing the commit is an answer, not an exception: `ok: false` with git's output.
   */
  async commitStaged(
    message: string,
    options: { noVerify?: boolean } = {},
  ): Promise<{ ok: true; sha: string } | { ok: false; output: string }> {
    const args = ["commit", "--quiet", ...(options.noVerify ? ["--no-verify"] : []), "-m", message];
    const r = await this.run(args, { allowFailure: true });
    if (r.exitCode !== 0) return { ok: false, output: tailText(`${r.stdout}\n${r.stderr}`.trim(), 4000) };
    return { ok: true, sha: await this.headSha() };
  }

  /** Paths added, copied, modified or type-changed (or those `filter` names) in the index relative to `from`. */
  async stagedPaths(from: string, filter = "ACMT"): Promise<string[]> {
    const r = await this.run([
      "diff",
      "--cached",
      "--name-only",
      "--no-renames",
      `--diff-filter=${filter}`,
      "-z",
      from,
    ]);
    return r.stdout.split("\0").filter(Boolean);
  }

  /** The staged content of `path`: its size, and its first `maxBytes` bytes. */
  async stagedBlob(path: string, maxBytes: number): Promise<{ sizeBytes: number; head: Buffer }> {
    const size = Number((await this.run(["cat-file", "-s", `:${path}`])).stdout.trim());
    const head = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let length = 0;
      const child = execFile("git", ["cat-file", "blob", `:${path}`], {
        cwd: this.cwd,
        env: this.env,
        encoding: "buffer",
        maxBuffer: Number.MAX_SAFE_INTEGER,
        timeout: this.timeoutMs,
      });
      child.stdout?.on("data", (c: Buffer) => {
        if (length >= maxBytes) return;
        chunks.push(c);
        length += c.length;
      });
      child.on("error", reject);
      child.on("close", () => resolve(Buffer.concat(chunks).subarray(0, maxBytes)));
    });
    return { sizeBytes: size, head };
  }

  /** Which of `paths` the repository's ignore rules match (whether or not they are tracked). */
  async ignoredPaths(paths: readonly string[]): Promise<string[]> {
    if (paths.length === 0) return [];
    const r = await this.run(["-c", "core.quotePath=false", "check-ignore", "--no-index", "--", ...paths], {
      allowFailure: true,
    });
    // Exit 1: none is ignored.
    if (r.exitCode !== 0 && r.exitCode !== 1)
      throw new SmithError("internal", `git check-ignore failed: ${r.stderr.trim()}`);
    const listed = new Set(r.stdout.split("\n").filter(Boolean));
    return paths.filter((p) => listed.has(p));
  }

  /** Puts the working tree and the index back to HEAD: tracked changes undone, untracked files removed (ignored ones kept). */
  async discardChanges(): Promise<void> {
    await this.run(["reset", "--quiet", "--hard", "HEAD"]);
    await this.run(["clean", "--quiet", "-d", "--force"]);
  }

  /** Moves HEAD (and the index) to `to`, leaving the working tree as it is. */
  async resetTo(to: string): Promise<void> {
    await this.run(["reset", "--quiet", "--mixed", to]);
  }

  /** The commit a revision names. */
  async revParse(rev: string): Promise<string> {
    return (await this.run(["rev-parse", "--verify", `${rev}^{commit}`])).stdout.trim();
  }

  /**
   * Takes `onto` into the current branch by rebase or merge. A conflict is an answer: the
   * operation is aborted (the branch is as before) and the conflicting paths are returned.
   */
  async integrate(
    onto: string,
    method: "rebase" | "merge",
    message?: string,
  ): Promise<{ ok: true } | { ok: false; conflicts: string[]; output: string }> {
    const args =
      method === "rebase"
        ? ["rebase", "--quiet", "--autostash", onto]
        : ["merge", "--quiet", "--autostash", "--no-edit", "--no-ff", ...(message ? ["-m", message] : []), onto];
    const r = await this.run(args, { allowFailure: true });
    if (r.exitCode === 0) return { ok: true };
    const conflicts = (await this.run(["diff", "--name-only", "--diff-filter=U"], { allowFailure: true })).stdout
      .split("\n")
      .filter(Boolean);
    await this.run([method, "--abort"], { allowFailure: true });
    return { ok: false, conflicts, output: tailText(`${r.stdout}\n${r.stderr}`.trim(), 4000) };
  }

  /** Merges `ref` leaving conflicts in the working tree for someone to resolve; true when it merged cleanly. */
  async mergeKeepingConflicts(ref: string): Promise<boolean> {
    const r = await this.run(["merge", "--quiet", "--no-edit", "--no-ff", ref], { allowFailure: true });
    return r.exitCode === 0;
  }

  /** True when `ancestor` is an ancestor of (or equal to) `rev`. */
  async isAncestor(ancestor: string, rev = "HEAD"): Promise<boolean> {
    return (await this.run(["merge-base", "--is-ancestor", ancestor, rev], { allowFailure: true })).exitCode === 0;
  }

  async push(branch: string, remote = "origin"): Promise<void> {
    await this.run(["push", "--quiet", "--", remote, `HEAD:refs/heads/${branch}`]);
  }

  /**
   * Pushes a rewritten branch (after a rebase) only if the remote branch is still at `expected`:
   * never overwrites commits someone else pushed meanwhile.
   */
  async pushWithLease(branch: string, expected: string, remote = "origin"): Promise<void> {
    await this.run([
      "push",
      "--quiet",
      `--force-with-lease=refs/heads/${branch}:${expected}`,
      remote,
      `HEAD:refs/heads/${branch}`,
    ]);
  }

  /** `git diff --stat` between two revisions, bounded. */
  async diffStat(from: string, to = "HEAD"): Promise<string> {
    const r = await this.run(["diff", "--stat", `${from}..${to}`, "--"], { allowFailure: true });
    return tailText(r.stdout.trim(), 16 * 1024);
  }

  /** Commit subjects from `from` (exclusive) to HEAD, oldest first. */
  async subjects(from: string): Promise<string[]> {
    const r = await this.run(["log", "--reverse", "--format=%s", `${from}..HEAD`, "--"]);
    return r.stdout.split("\n").filter(Boolean);
  }
}

/**
 * A clone failure a retry cannot fix, from git's own message (git has no machine-readable
 * status: these are the sentences git and the common hosts print). Anything else (a network
 * error, a timeout, a full disk) may pass on the next attempt.
 */
export function permanentCloneFailure(stderr: string): PermanentGitFailure | undefined {
  if (/transport '[^']*' not allowed/i.test(stderr)) return "protocol-not-allowed";
  if (
    /Authentication failed|could not read (Username|Password)|Permission denied \(publickey|Host key verification failed|returned error: 40[13]|HTTP (Basic: )?Access denied/i.test(
      stderr,
    )
  )
    return "auth-failed";
  if (
    /repository '[^']*' (does not exist|not found)|Repository not found|does not appear to be a git repository|returned error: 404/i.test(
      stderr,
    )
  )
    return "repo-not-found";
  return undefined;
}
