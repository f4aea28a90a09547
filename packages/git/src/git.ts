import { SmithError, tailText } from "@smith/core";
import { execFile } from "node:child_process";

export interface GitOptions {
  /** The working tree. */
  cwd: string;
  /** Environment for git (sanitized by the caller); GIT_TERMINAL_PROMPT=0 is always added. */
  env?: Record<string, string>;
  /** Per-command timeout (default 5 minutes: clones and pushes of large repos). */
  timeoutMs?: number;
  author?: { name: string; email: string };
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

  constructor(options: GitOptions) {
    this.cwd = options.cwd;
    this.env = { ...(options.env ?? {}), GIT_TERMINAL_PROMPT: "0" };
    this.timeoutMs = options.timeoutMs ?? 5 * 60_000;
    this.author = options.author ?? { name: "Smith", email: "smith@localhost" };
  }

  /** Runs git; a non-zero exit is a `SmithError` unless `allowFailure`. */
  async run(args: string[], options: { allowFailure?: boolean; cwd?: string } = {}): Promise<GitResult> {
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

  /** Clones `url` into this working tree's directory (which must not exist or be empty). */
  async clone(url: string): Promise<void> {
    await this.run(["clone", "--no-tags", "--quiet", url, this.cwd], { cwd: "/" });
  }

  async remoteBranchExists(branch: string, remote = "origin"): Promise<boolean> {
    const r = await this.run(["ls-remote", "--exit-code", "--heads", remote, branch], { allowFailure: true });
    if (r.exitCode === 2) return false;
    if (r.exitCode !== 0) throw new SmithError("internal", `git ls-remote failed: ${r.stderr.trim()}`);
    return true;
  }

  async fetch(branch: string, remote = "origin"): Promise<void> {
    await this.run(["fetch", "--quiet", remote, `+refs/heads/${branch}:refs/remotes/${remote}/${branch}`]);
  }

  /** Creates (or resets) `branch` at `startPoint` and checks it out. */
  async checkoutNew(branch: string, startPoint: string): Promise<void> {
    await this.run(["checkout", "--quiet", "-B", branch, startPoint]);
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

  async commitAll(message: string): Promise<string> {
    await this.run(["add", "--all"]);
    await this.run(["commit", "--quiet", "--no-verify", "-m", message]);
    return this.headSha();
  }

  async push(branch: string, remote = "origin"): Promise<void> {
    await this.run(["push", "--quiet", remote, `HEAD:refs/heads/${branch}`]);
  }

  /** `git diff --stat` between two revisions, bounded. */
  async diffStat(from: string, to = "HEAD"): Promise<string> {
    const r = await this.run(["diff", "--stat", `${from}..${to}`], { allowFailure: true });
    return tailText(r.stdout.trim(), 16 * 1024);
  }

  /** Commit subjects from `from` (exclusive) to HEAD, oldest first. */
  async subjects(from: string): Promise<string[]> {
    const r = await this.run(["log", "--reverse", "--format=%s", `${from}..HEAD`]);
    return r.stdout.split("\n").filter(Boolean);
  }
}
