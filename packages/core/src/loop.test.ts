import { describe, expect, it } from "vitest";
import { newId } from "./ids.ts";
import {
  ConcurrencyKey,
  CreateLoopInput,
  DEFAULT_LIMITS,
  DEFAULT_PRIORITY,
  RepoSpec,
  defaultConcurrencyKey,
  workBranchOf,
} from "./loop.ts";
import type { CreateLoopRequest } from "./loop.ts";

function request(
  overrides: { spec?: Partial<CreateLoopRequest["spec"]> } & Omit<Partial<CreateLoopRequest>, "spec"> = {},
): CreateLoopRequest {
  const { spec, ...rest } = overrides;
  return {
    spec: { repo: { url: "https://github.com/acme/app.git" }, prd: { kind: "path" }, ...spec },
    ...rest,
  };
}

/** The dotted paths of the issues a rejected input produced (one field may fail two checks). */
function issuePaths(input: unknown): string[] {
  const result = CreateLoopInput.safeParse(input);
  if (result.success) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return [...new Set(result.error.issues.map((issue) => issue.path.map(String).join(".")))];
}

describe("CreateLoopInput", () => {
  it("fills in the defaults", () => {
    const parsed = CreateLoopInput.parse(request());
    expect(parsed.priority).toBe(DEFAULT_PRIORITY);
    expect(parsed.priority).toBe(100);
    expect(parsed.source).toEqual({ type: "direct" });
    expect(parsed.labels).toEqual({});
    expect(parsed.concurrencyKey).toBeUndefined();
    expect("concurrencyKey" in parsed).toBe(false);
    expect(parsed.idempotencyKey).toBeUndefined();
    expect(parsed.spec.agent).toEqual({ provider: "claude", args: [], fallbacks: [] });
    expect(parsed.spec.limits).toEqual({ ...DEFAULT_LIMITS });
    expect(parsed.spec.limits.maxCostUsd).toBeUndefined();
    expect(parsed.spec.qualityGates).toEqual([]);
    expect(parsed.spec.repo).toEqual({ url: "https://github.com/acme/app.git", baseBranch: "main" });
    expect(parsed.spec.prd).toEqual({ kind: "path", path: ".agents/tasks/prd.json" });
  });

  it("fills in the defaults of a partly given agent and limits", () => {
    const parsed = CreateLoopInput.parse(
      request({ spec: { agent: { provider: "codex" }, limits: { maxAttempts: 5 } } }),
    );
    expect(parsed.spec.agent).toEqual({ provider: "codex", args: [], fallbacks: [] });
    expect(parsed.spec.limits).toEqual({ ...DEFAULT_LIMITS, maxAttempts: 5 });
  });

  it("agent.fallbacks: bounded, each a whole agent config without a credential of its own", () => {
    const fallbacks = (list: unknown[]) => {
      // Unchecked input on purpose: what a client may send.
      const r = CreateLoopInput.safeParse({
        ...request(),
        spec: { ...request().spec, agent: { provider: "claude", fallbacks: list } },
      });
      return r.success ? r.data.spec.agent.fallbacks : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    };
    expect(
      fallbacks([
        { provider: "codex", model: "gpt-5" },
        { provider: "claude", model: "haiku" },
      ]),
    ).toEqual([
      { provider: "codex", model: "gpt-5", args: [] },
      { provider: "claude", model: "haiku", args: [] },
    ]);
    expect(
      fallbacks([{ provider: "codex" }, { provider: "codex" }, { provider: "codex" }, { provider: "codex" }]),
    ).toEqual(["spec.agent.fallbacks: at most 3 fallback agents"]);
    expect(fallbacks([{ provider: "command" }])).toEqual([
      "spec.agent.fallbacks.0.command: agent.command is required when provider is `command`",
    ]);
    // No nesting, and no credential (the primary's key, or the replica's environment).
    expect(fallbacks([{ provider: "codex", fallbacks: [], credential: "openai" }])).toEqual([
      { provider: "codex", args: [] },
    ]);
  });

  it("a github_issue source needs an owner/repo#N ref; a PRD drafted from an issue needs that source", () => {
    const parsed = CreateLoopInput.parse(
      request({ spec: { prd: { kind: "issue" } }, source: { type: "github_issue", ref: "acme/app#12" } }),
    );
    expect(parsed.spec.prd).toEqual({ kind: "issue", path: ".agents/tasks/prd.json" });
    expect(parsed.spec.limits.maxReviewRounds).toBe(3);
    expect(issuePaths(request({ source: { type: "github_issue", ref: "acme/app" } }))).toEqual(["source.ref"]);
    expect(issuePaths(request({ source: { type: "github_issue" } }))).toEqual(["source.ref"]);
    expect(issuePaths(request({ spec: { prd: { kind: "issue" } } }))).toEqual(["spec.prd.kind"]);
  });

  it("defaults an inline PRD's path", () => {
    const parsed = CreateLoopInput.parse(request({ spec: { prd: { kind: "inline", content: "{}" } } }));
    expect(parsed.spec.prd).toEqual({ kind: "inline", content: "{}", path: ".agents/tasks/prd.json" });
  });

  it.each(["smith/01jb8z6m3k9w4x7q2r5t8v1c0d", "feature/x-1", "release-1.2", "a.b", "_wip", "user/topic/sub"])(
    "accepts the work branch %j",
    (workBranch) => {
      expect(
        CreateLoopInput.safeParse(request({ spec: { repo: { url: "https://github.com/acme/app.git", workBranch } } }))
          .success,
      ).toBe(true);
    },
  );

  it.each([
    "..",
    "a..b",
    "-x",
    "a.lock",
    "feature/a.lock",
    "a/",
    "a.",
    "a//b",
    "has space",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "",
    "x".repeat(256),
    // Regression: these passed the schema but `git check-ref-format --branch` refuses them, so the
    // loop was accepted and then failed in the replica's `git checkout -b`.
    "/a",
    ".a",
    "a/.b",
    "a.lock/b",
  ])("rejects the work branch %j at spec.repo.workBranch", (workBranch) => {
    expect(issuePaths(request({ spec: { repo: { url: "https://github.com/acme/app.git", workBranch } } }))).toEqual([
      "spec.repo.workBranch",
    ]);
  });

  it("checks the base branch the same way", () => {
    expect(
      issuePaths(request({ spec: { repo: { url: "https://github.com/acme/app.git", baseBranch: "-main" } } })),
    ).toEqual(["spec.repo.baseBranch"]);
  });

  it("rejects provider `command` without a command, at spec.agent.command", () => {
    expect(issuePaths(request({ spec: { agent: { provider: "command" } } }))).toEqual(["spec.agent.command"]);
    expect(issuePaths(request({ spec: { agent: { provider: "command", command: "" } } }))).toEqual([
      "spec.agent.command",
    ]);
    expect(
      CreateLoopInput.safeParse(request({ spec: { agent: { provider: "command", command: "./agent.sh" } } })).success,
    ).toBe(true);
  });

  it.each([1000, -1, 1.5])("rejects priority %s at priority", (priority) => {
    expect(issuePaths(request({ priority }))).toEqual(["priority"]);
  });

  it.each([0, 999])("accepts priority %s", (priority) => {
    expect(CreateLoopInput.parse(request({ priority })).priority).toBe(priority);
  });

  it.each([-1, 0])("rejects maxCostUsd %s at spec.limits.maxCostUsd", (maxCostUsd) => {
    expect(issuePaths(request({ spec: { limits: { maxCostUsd } } }))).toEqual(["spec.limits.maxCostUsd"]);
  });

  it.each([
    { field: "maxAttempts", value: 0 },
    { field: "maxAttempts", value: 21 },
    { field: "maxIterations", value: 2.5 },
    { field: "timeoutMs", value: 999 },
  ])("rejects limits.$field = $value at spec.limits.$field", ({ field, value }) => {
    expect(issuePaths(request({ spec: { limits: { [field]: value } } }))).toEqual([`spec.limits.${field}`]);
  });

  it.each(["a/b", "has space", "tab\there", ""])("rejects the concurrency key %j", (concurrencyKey) => {
    expect(issuePaths(request({ concurrencyKey }))).toEqual(["concurrencyKey"]);
  });

  it("reports every bad field, not just the first", () => {
    const paths = issuePaths(
      request({
        priority: 1000,
        spec: { repo: { url: "https://github.com/acme/app.git", workBranch: ".." }, limits: { maxCostUsd: -1 } },
      }),
    );
    expect(paths.sort()).toEqual(["priority", "spec.limits.maxCostUsd", "spec.repo.workBranch"]);
  });
});

describe("defaultConcurrencyKey", () => {
  it("gives one key to the https, ssh and trailing-slash spellings of a repository", () => {
    const key = defaultConcurrencyKey("https://github.com/acme/app.git");
    expect(key).toBe("github.com_acme_app");
    expect(defaultConcurrencyKey("git@github.com:acme/app.git")).toBe(key);
    expect(defaultConcurrencyKey("https://github.com/acme/app/")).toBe(key);
    expect(defaultConcurrencyKey("https://github.com/acme/app")).toBe(key);
    expect(defaultConcurrencyKey("ssh://git@github.com/acme/app.git")).toBe(key);
    expect(defaultConcurrencyKey("  https://github.com/acme/app.git\n")).toBe(key);
  });

  // Regression: `.git` was stripped before the trailing slash, so `app.git/` kept its `.git`
  // and got a key (and a concurrency limit) of its own.
  it("strips `.git` behind a trailing slash too", () => {
    expect(defaultConcurrencyKey("https://github.com/acme/app.git/")).toBe("github.com_acme_app");
  });

  it("gives different repositories different keys", () => {
    expect(defaultConcurrencyKey("https://github.com/acme/app")).not.toBe(
      defaultConcurrencyKey("https://github.com/acme/api"),
    );
    expect(defaultConcurrencyKey("https://github.com/acme/app")).not.toBe(
      defaultConcurrencyKey("https://gitlab.com/acme/app"),
    );
  });

  it("leaves credentials in the URL out of the key", () => {
    const key = defaultConcurrencyKey("https://x-access-token:ghp_secret@github.com/acme/app.git");
    expect(key).toBe("github.com_acme_app");
    expect(key).not.toContain("secret");
  });

  it.each([
    "https://github.com/acme/app.git",
    "git@github.com:acme/app.git",
    "file:///tmp/my repos/app",
    "/srv/git/app.git",
    "C:\\repos\\app",
    "https://example.com/a b/c\td\ne",
    "https://example.com:8443/group/sub group/app?ref=x#frag",
    "ssh://git@host:22/~user/app.git",
    "https://例え.jp/リポジトリ",
    "",
    "   ",
    "/",
    "https://github.com/" + "a/".repeat(300) + "app",
  ])("key for %j never contains `/` or whitespace and is a valid ConcurrencyKey", (url) => {
    const key = defaultConcurrencyKey(url);
    expect(key).not.toMatch(/[\s/]/);
    expect(ConcurrencyKey.safeParse(key).success).toBe(true);
  });

  it("falls back to `default` when nothing is left of the URL", () => {
    expect(defaultConcurrencyKey("")).toBe("default");
    expect(defaultConcurrencyKey("   ")).toBe("default");
  });
});

describe("workBranchOf", () => {
  it("defaults to smith/<loop id>, which is a valid branch name", () => {
    const id = newId();
    const spec = CreateLoopInput.parse(request()).spec;
    const branch = workBranchOf({ id, spec });
    expect(branch).toBe(`smith/${id}`);
    expect(RepoSpec.safeParse({ url: "https://github.com/acme/app.git", workBranch: branch }).success).toBe(true);
  });

  it("uses the spec's work branch when there is one", () => {
    const spec = CreateLoopInput.parse(
      request({ spec: { repo: { url: "https://github.com/acme/app.git", workBranch: "feature/x" } } }),
    ).spec;
    expect(workBranchOf({ id: newId(), spec })).toBe("feature/x");
  });
});
