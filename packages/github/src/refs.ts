import { z } from "zod";

/** GitHub's own rules: owner 1-39 of [A-Za-z0-9-]; repository names of [A-Za-z0-9._-]. */
const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const NAME = /^[A-Za-z0-9._-]{1,100}$/;

export const RepoRef = z.object({
  owner: z.string().regex(OWNER, "must be a GitHub owner (letters, digits, `-`, at most 39)"),
  name: z
    .string()
    .regex(NAME, "must be a GitHub repository name")
    .refine((n) => n !== "." && n !== "..", "must be a GitHub repository name"),
});
export type RepoRef = z.infer<typeof RepoRef>;

export interface IssueRef extends RepoRef {
  number: number;
}

/** `owner/repo`, or undefined when the text is not one. */
export function parseRepoRef(text: string): RepoRef | undefined {
  const m = /^([^/\s]+)\/([^/\s#]+)$/.exec(text.trim());
  if (!m) return undefined;
  const parsed = RepoRef.safeParse({ owner: m[1], name: m[2]?.replace(/\.git$/, "") });
  return parsed.success ? parsed.data : undefined;
}

/** `owner/repo#12`, or undefined when the text is not one. */
export function parseIssueRef(text: string): IssueRef | undefined {
  const m = /^([^#\s]+)#(\d{1,10})$/.exec(text.trim());
  if (!m || !m[1] || !m[2]) return undefined;
  const repo = parseRepoRef(m[1]);
  const number = Number(m[2]);
  if (!repo || !Number.isSafeInteger(number) || number < 1) return undefined;
  return { ...repo, number };
}

export function formatIssueRef(ref: IssueRef): string {
  return `${ref.owner}/${ref.name}#${ref.number}`;
}

/** The idempotency key of the loop made from an issue: one loop per issue. */
export function issueIdempotencyKey(ref: IssueRef): string {
  return `github:${formatIssueRef(ref)}`;
}

/**
 * The GitHub repository a clone URL points at, when its host is one of `webHosts`
 * (`github.com` by default; a GitHub Enterprise host, with its port when not the default).
 * Accepts https (`https://host/owner/repo(.git)`) and scp-style ssh (`git@host:owner/repo.git`).
 */
export function repoFromUrl(url: string, webHosts: readonly string[] = ["github.com"]): RepoRef | undefined {
  const hosts = new Set(webHosts.map((h) => h.toLowerCase()));
  let host: string;
  let path: string;
  const scp = /^[A-Za-z0-9._-]+@([^:/]+):(.+)$/.exec(url);
  if (scp && scp[1] && scp[2]) {
    host = scp[1];
    path = scp[2];
  } else {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return undefined;
    }
    if (!["https:", "http:", "ssh:"].includes(parsed.protocol)) return undefined;
    host = parsed.host;
    path = parsed.pathname;
  }
  if (!hosts.has(host.toLowerCase())) return undefined;
  const parts = path.replace(/^\/+/, "").replace(/\/+$/, "").split("/");
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return parseRepoRef(`${parts[0]}/${parts[1]}`);
}

/** The issue or pull request URL on the web host. */
export function webUrl(base: string, ref: RepoRef, path = ""): string {
  return `${base.replace(/\/+$/, "")}/${ref.owner}/${ref.name}${path}`;
}
