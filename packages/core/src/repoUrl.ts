import { SmithError } from "./errors.ts";

/**
 * Repository URLs: the one check every door uses (loops.create, batches, ingress), so that what
 * reaches `git clone` is a remote git reads as a remote and nothing else. Git reads a leading `-`
 * as an option, `<transport>::<address>` as a remote helper (`ext::sh -c ...` runs a command), and
 * a local path or `file://` as the replica's own disk: only the first two are always refused; the
 * local forms only where the operator allows them (a single-machine stack, tests).
 */

/** How git will reach a repository. */
export type RepoUrlKind = "https" | "ssh" | "scp" | "http" | "file" | "path";

/** The kinds that read the replica's own disk or travel in clear: only where the operator allows them. */
export const LOCAL_REPO_KINDS: readonly RepoUrlKind[] = ["file", "path", "http"];

export interface RepoUrlPolicy {
  /** `file://`, absolute paths and plain `http://` (a test server) are accepted (default false). */
  allowLocal?: boolean;
}

const CREDENTIALS_PROBLEM =
  "must not embed credentials (user:token@); store the token with `smithctl credentials set` and name it in spec.repo.credential";

/** The problem with a URL, or its kind. Pure: the reason is a sentence without the URL itself (it may hold a secret). */
export function classifyRepoUrl(url: string): { kind: RepoUrlKind } | { problem: string } {
  if (url.length === 0) return { problem: "must not be empty" };
  if (url.trim() !== url) return { problem: "must not start or end with whitespace" };
  // A control character (a newline in particular) would let a URL smuggle a second line into
  // git's credential protocol or a config file.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(url)) return { problem: "must not contain control characters" };
  if (url.startsWith("-")) return { problem: "must not start with `-` (git would read it as an option)" };
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url))
    return { problem: "must not name a git remote helper (`<transport>::<address>`, such as `ext::` or `fd::`)" };

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { problem: "is not a valid URL" };
    }
    switch (scheme) {
      case "https":
      case "http":
        // Any user part of an http(s) URL is a credential (a token is often sent as the user name).
        if (parsed.username || parsed.password) return { problem: CREDENTIALS_PROBLEM };
        if (!parsed.hostname) return { problem: "must name a host" };
        if (parsed.hostname.startsWith("-")) return { problem: "must not name a host starting with `-`" };
        return { kind: scheme };
      case "ssh":
      case "git+ssh":
      case "ssh+git":
        if (parsed.password) return { problem: CREDENTIALS_PROBLEM };
        if (!parsed.hostname) return { problem: "must name a host" };
        // ssh would read `-oProxyCommand=...` as an option (CVE-2017-1000117).
        if (parsed.hostname.startsWith("-") || decodeURIComponent(parsed.username).startsWith("-"))
          return { problem: "must not name a host or user starting with `-`" };
        return { kind: "ssh" };
      case "file":
        return { kind: "file" };
      default:
        return { problem: `uses ${scheme}://; use https://, ssh:// or user@host:path` };
    }
  }

  if (url.startsWith("/")) return { kind: "path" };

  // scp-like: `user@host:path`. git reads it so only when a `:` comes before any `/`.
  const scp = /^([^@/:]+)@([^@/:]+):(.+)$/.exec(url);
  if (scp) {
    const [, user = "", host = ""] = scp;
    if (user.startsWith("-") || host.startsWith("-"))
      return { problem: "must not name a host or user starting with `-`" };
    return { kind: "scp" };
  }
  if (/^[^/]*:[^/]*@/.test(url)) return { problem: CREDENTIALS_PROBLEM };
  return {
    problem: "must be https://..., ssh://... or user@host:path (a relative path or bare host:path is ambiguous to git)",
  };
}

/** The problem with a URL under a policy, as a sentence, or undefined when it is accepted. */
export function repoUrlProblem(url: string, policy: RepoUrlPolicy = {}): string | undefined {
  const c = classifyRepoUrl(url);
  if ("problem" in c) return c.problem;
  if (!policy.allowLocal && LOCAL_REPO_KINDS.includes(c.kind))
    return c.kind === "http"
      ? "uses plain http://; use https:// (plain http is accepted only where local repositories are allowed: SMITH_ALLOW_LOCAL_REPOS=true)"
      : "is a local repository; this installation accepts only remote ones (SMITH_ALLOW_LOCAL_REPOS=true allows them)";
  return undefined;
}

/** A typed `invalid_argument` error naming `field`, or undefined when the URL is accepted. */
export function checkRepoUrl(url: string, policy: RepoUrlPolicy = {}, field = "spec.repo.url"): SmithError | undefined {
  const problem = repoUrlProblem(url, policy);
  if (problem === undefined) return undefined;
  return new SmithError("invalid_argument", `${field}: ${problem}`, {
    field,
    issues: [{ path: field, message: problem }],
  });
}

/**
 * The one protocol git may use for a URL (its `GIT_ALLOW_PROTOCOL`): a clone then cannot be
 * redirected or extended to another transport (a submodule on `ext::`, a `file://` alternate).
 */
export function gitProtocolOf(kind: RepoUrlKind): "https" | "http" | "ssh" | "file" {
  switch (kind) {
    case "https":
      return "https";
    case "http":
      return "http";
    case "ssh":
    case "scp":
      return "ssh";
    case "file":
    case "path":
      return "file";
  }
}
