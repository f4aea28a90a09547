/**
 * What may never be committed by a loop: ignored files, `.env` files, private keys, text that looks
 * like a credential (or is one the replica holds), files over a size limit. Pure: the replica lists
 * the staged change and passes each file's size and the start of its text in; a violation fails
 * the story (the agent is told why in its next prompt) and nothing is committed or pushed.
 */
export type CommitViolationRule = "ignored" | "env-file" | "private-key" | "credential" | "too-large";

export interface CommitViolation {
  path: string;
  rule: CommitViolationRule;
  /** What matched, never the secret itself. */
  detail: string;
}

export interface StagedFile {
  path: string;
  sizeBytes: number;
  /** The file's text (or its first bytes); absent for binary or deleted files. */
  text?: string | undefined;
  /** True when the repository's ignore rules match the path (it was added by force). */
  ignored?: boolean | undefined;
}

export interface CommitSafetyOptions {
  maxFileBytes: number;
  /** Secret values the replica holds (provider keys, tokens): never to appear in a commit. */
  secrets?: readonly string[];
}

/** Templates meant to be committed; their text is still scanned. */
const ENV_TEMPLATE = /^\.env\.(example|sample|template|dist)$/i;
const ENV_FILE = /^\.env(\..*)?$/i;
const KEY_FILE = /^(id_(rsa|dsa|ecdsa|ed25519)|.*\.(pem|key|p12|pfx|jks|keystore))$/i;

/** Credential patterns, named for the message. Each needs enough entropy-shaped text not to fire on prose. */
const CREDENTIAL_PATTERNS: readonly { name: string; pattern: RegExp }[] = [
  { name: "PEM private key block", pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/ },
  { name: "GitHub token", pattern: /\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b/ },
  { name: "GitHub fine-grained token", pattern: /\bgithub_pat_[A-Za-z0-9_]{40,}\b/ },
  { name: "AWS access key id", pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  {
    name: "AWS secret access key",
    pattern: /aws_?secret_?access_?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40}\b/i,
  },
  { name: "Anthropic API key", pattern: /\bsk-ant-[A-Za-z0-9_-]{20,}/ },
  { name: "OpenAI API key", pattern: /\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{32,}/ },
  { name: "Slack token", pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/ },
];

/** Secrets shorter than this are not matched literally (they would match ordinary text). */
const MIN_SECRET_LENGTH = 12;

function basename(path: string): string {
  const i = path.lastIndexOf("/");
  return i === -1 ? path : path.slice(i + 1);
}

/** Every reason the staged change may not be committed; empty when it may. */
export function checkCommit(files: readonly StagedFile[], options: CommitSafetyOptions): CommitViolation[] {
  const out: CommitViolation[] = [];
  const secrets = (options.secrets ?? []).filter((s) => s.length >= MIN_SECRET_LENGTH);
  for (const f of files) {
    const name = basename(f.path);
    if (f.ignored) out.push({ path: f.path, rule: "ignored", detail: "the repository's .gitignore excludes it" });
    if (ENV_FILE.test(name) && !ENV_TEMPLATE.test(name))
      out.push({ path: f.path, rule: "env-file", detail: "environment files hold secrets and are never committed" });
    if (KEY_FILE.test(name))
      out.push({ path: f.path, rule: "private-key", detail: "key and keystore files are never committed" });
    if (f.sizeBytes > options.maxFileBytes)
      out.push({
        path: f.path,
        rule: "too-large",
        detail: `${f.sizeBytes} bytes is over the limit of ${options.maxFileBytes} bytes`,
      });
    if (f.text === undefined) continue;
    const text = f.text;
    const found = CREDENTIAL_PATTERNS.find((p) => p.pattern.test(text));
    if (found) out.push({ path: f.path, rule: "credential", detail: `contains text that looks like a ${found.name}` });
    else if (secrets.some((s) => text.includes(s)))
      out.push({ path: f.path, rule: "credential", detail: "contains a credential the replica holds" });
  }
  return out;
}

/** The violations as the agent reads them in its next prompt. */
export function describeViolations(violations: readonly CommitViolation[]): string {
  return [
    "Smith refused to commit this change; nothing was committed or pushed:",
    ...violations.map((v) => `- ${v.path}: ${v.detail} (${v.rule})`),
    "Remove these files or the secret text from the working tree (add them to .gitignore if they must stay local), then finish the story.",
  ].join("\n");
}
