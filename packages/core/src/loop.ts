import { z } from "zod";
import { LoopEvidence } from "./evidence.ts";
import { ID_PATTERN } from "./ids.ts";
import { CredentialName } from "./credentials.ts";
import { LIMITS } from "./limits.ts";
import { NotifySpec } from "./notify.ts";
import { repoUrlProblem } from "./repoUrl.ts";

import { SCHEMA_VERSION } from "./schemaVersion.ts";

// Its own module so that schemas loop.ts imports (credentials) can use it without a cycle.
export { SCHEMA_VERSION };

export const LoopId = z.string().regex(ID_PATTERN, "must be a loop id (26 lower-case base32 characters)");
export type LoopId = z.infer<typeof LoopId>;

export const LOOP_STATES = ["unresolved", "running", "waiting", "synced", "flatline", "cancelled"] as const;
export const LoopState = z.enum(LOOP_STATES);
export type LoopState = z.infer<typeof LoopState>;

export const TERMINAL_STATES: readonly LoopState[] = ["synced", "cancelled"];
export function isTerminal(state: LoopState): boolean {
  return TERMINAL_STATES.includes(state);
}
/**
 * A loop no replica works on any more: synced, flatline or cancelled. A `waiting` loop is not
 * finished: its replica has exited, but an answer (or a quota reset) puts it back in the queue.
 */
export function isFinished(state: LoopState): boolean {
  return state === "synced" || state === "flatline" || state === "cancelled";
}

/** Why a loop is `synced`. */
export const SYNCED_REASON_CODES = ["all-stories-passed"] as const;
/** Why a loop is `flatline`: it cannot continue (a replica finalizes with one; the reconciler sets the last three). */
export const FLATLINE_REASON_CODES = [
  "max-iterations-reached",
  "no-progress",
  "budget-exceeded",
  "replica-lost",
  "timed-out",
  // The repository cannot be cloned for a reason a retry cannot fix (not found, authentication
  // failed, a transport git may not use): the replica flatlines at once with git's message.
  "clone-failed",
  // A `waiting` loop nobody answered within limits.waitingTimeoutMs (the reconciler sets it).
  "abandoned",
] as const;
/**
 * Why a loop is `waiting`: it needs a person (`needs-human`: a story failed too often or no story
 * is ready; `prd-invalid`; `no-gates`; `baseline-failing`; `question`: the agent asked one;
 * `review-repeating`: the same review failure came back; `review-rounds-exhausted`), or it is parked until an agent's usage limit resets (`quota`).
 */
export const WAITING_REASON_CODES = [
  "needs-human",
  "prd-invalid",
  "no-gates",
  "baseline-failing",
  "question",
  "review-repeating",
  "review-rounds-exhausted",
  "quota",
] as const;

/** Whether a replica that stops for `reason` leaves the loop `waiting` (else it is a flatline). */
export function isWaitingReason(reason: string): boolean {
  return (WAITING_REASON_CODES as readonly string[]).includes(reason);
}

/** Machine-readable reasons attached to a loop's status. */
export const REASON_CODES = [
  ...SYNCED_REASON_CODES,
  ...FLATLINE_REASON_CODES,
  ...WAITING_REASON_CODES,
  // cancelled
  "operator-cancelled",
  // unresolved
  "queued",
  "retry-scheduled",
  "operator-retry",
  // unresolved again after waiting: a person answered, or the quota reset time passed
  "answered",
  "quota-reset",
  // unresolved again after synced: its pull request got changes requested or a failing check
  "review-feedback",
  // any state an operator forces
  "operator-override",
] as const;
export const ReasonCode = z.enum(REASON_CODES);
export type ReasonCode = z.infer<typeof ReasonCode>;

export const LoopSourceType = z.enum(["direct", "github_issue", "prd_task"]);
export type LoopSourceType = z.infer<typeof LoopSourceType>;
export const LoopSource = z.object({
  type: LoopSourceType.default("direct"),
  /** e.g. `owner/repo#12` for an issue, a PRD path + story for a task. */
  ref: z.string().max(512).optional(),
});
export type LoopSource = z.infer<typeof LoopSource>;

export const AgentProvider = z.enum(["replay", "claude", "codex", "command"]);
export type AgentProvider = z.infer<typeof AgentProvider>;

const AgentFields = z.object({
  provider: AgentProvider.default("claude"),
  model: z.string().max(200).optional(),
  /** For `command`: the command line run through the shell; the prompt arrives on stdin. */
  command: z.string().max(4096).optional(),
  /** For `replay`: a directory (in the repo, or absolute on the replica's host) of recorded changes. */
  replayDir: z.string().max(4096).optional(),
  /** Extra CLI arguments appended to the provider's own. */
  args: z.array(z.string().max(1024)).max(64).default([]),
  /** The provider key (an `anthropic` or `openai` credential); by default the one scoped to the repo's owner. */
  credential: CredentialName.optional(),
});

function commandRequired(agent: { provider: AgentProvider; command?: string | undefined }, ctx: z.RefinementCtx): void {
  if (agent.provider === "command" && !agent.command) {
    ctx.addIssue({
      code: "custom",
      path: ["command"],
      message: "agent.command is required when provider is `command`",
    });
  }
}

/** Fallback agents a loop may list (agent.fallbacks). */
export const AGENT_FALLBACKS_MAX = 3;

/**
 * One agent a loop may run: its provider and how to run it. A fallback has no `credential` of its
 * own: it uses the primary's provider key when it has the same provider, else the provider keys in
 * the replica's environment (docs/agents.md#fallbacks).
 */
export const AgentConfig = AgentFields.omit({ credential: true }).superRefine(commandRequired);
export type AgentConfig = z.infer<typeof AgentConfig> & { credential?: CredentialName };

export const AgentSpec = AgentFields.extend({
  /**
   * Agents to switch to, in order, when the current one reports a usage or rate limit: the next
   * iteration runs the next one (journaled as a failover); with none left the loop is parked
   * (`waiting`, `quota`) until the limit resets.
   */
  fallbacks: z
    .array(AgentConfig)
    .max(AGENT_FALLBACKS_MAX, `at most ${AGENT_FALLBACKS_MAX} fallback agents`)
    .default([]),
}).superRefine(commandRequired);
export type AgentSpec = z.infer<typeof AgentSpec>;

export const DEFAULT_LIMITS = {
  maxAttempts: 3,
  maxIterations: 50,
  timeoutMs: 4 * 60 * 60 * 1000,
  agentTimeoutMs: 30 * 60 * 1000,
  maxConsecutiveFailures: 3,
  noProgressIterations: 3,
  maxReviewRounds: 3,
  waitingTimeoutMs: 3 * 24 * 3600 * 1000,
  quotaWaitMs: 15 * 60 * 1000,
} as const;

export const LoopLimits = z.object({
  /** Replica attempts (a lost replica is retried with attempt + 1) before `flatline`. */
  maxAttempts: z.number().int().min(1).max(20).default(DEFAULT_LIMITS.maxAttempts),
  /** Agent iterations across all attempts. */
  maxIterations: z.number().int().min(1).max(10_000).default(DEFAULT_LIMITS.maxIterations),
  /** Wall-clock limit for the whole loop, from its first claim. */
  timeoutMs: z
    .number()
    .int()
    .min(1000)
    .max(7 * 24 * 3600 * 1000)
    .default(DEFAULT_LIMITS.timeoutMs),
  /** One agent run. */
  agentTimeoutMs: z
    .number()
    .int()
    .min(1000)
    .max(24 * 3600 * 1000)
    .default(DEFAULT_LIMITS.agentTimeoutMs),
  /** Failed iterations in a row on one story before `waiting` with `needs-human`. */
  maxConsecutiveFailures: z.number().int().min(1).max(100).default(DEFAULT_LIMITS.maxConsecutiveFailures),
  /** Iterations in a row without a diff before `flatline` with `no-progress`. */
  noProgressIterations: z.number().int().min(1).max(100).default(DEFAULT_LIMITS.noProgressIterations),
  /** Times a synced loop reopens for pull request review feedback (changes requested, failing checks). */
  maxReviewRounds: z.number().int().min(0).max(20).default(DEFAULT_LIMITS.maxReviewRounds),
  /** How long a `waiting` loop waits for a person before it flatlines with `abandoned`. */
  waitingTimeoutMs: z
    .number()
    .int()
    .min(1000)
    .max(30 * 24 * 3600 * 1000)
    .default(DEFAULT_LIMITS.waitingTimeoutMs),
  /**
   * How long a loop is parked (`waiting`, `quota`) when its agents hit a usage or rate limit
   * without saying when it resets; when they say, the loop resumes at that time instead.
   */
  quotaWaitMs: z
    .number()
    .int()
    .min(1000)
    .max(7 * 24 * 3600 * 1000)
    .default(DEFAULT_LIMITS.quotaWaitMs),
  /** Cost budget in USD; no budget when absent. */
  maxCostUsd: z.number().positive().max(1_000_000).optional(),
});
export type LoopLimits = z.infer<typeof LoopLimits>;

export const PrdSource = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("inline"),
    /** The PRD document as JSON text (either supported shape). */
    content: z.string().min(1),
    /** Where the replica writes it in the workspace. */
    path: z.string().max(1024).default(".agents/tasks/prd.json"),
  }),
  z.object({
    /**
     * No PRD yet: the replica drafts one from the loop's source issue (title, body, comments) with
     * the loop's agent, validates it and commits it at `path` on the work branch. A later attempt
     * finds it there and goes on.
     */
    kind: z.literal("issue"),
    path: z.string().min(1).max(1024).default(".agents/tasks/prd.json"),
  }),
  z.object({
    kind: z.literal("path"),
    /** Path of the PRD file inside the repository. */
    path: z.string().min(1).max(1024).default(".agents/tasks/prd.json"),
  }),
]);
export type PrdSource = z.infer<typeof PrdSource>;

const GitRef = z
  .string()
  .min(1)
  .max(255)
  // git check-ref-format also refuses a component that starts with `.` or ends with `.lock`, and a
  // leading `/`; the replica's `git checkout -b` would otherwise fail long after the loop was accepted.
  .regex(
    /^(?![-/.])(?!.*\.\.)(?!.*\/\/)(?!.*\/\.)(?!.*\.lock\/)[A-Za-z0-9._\-/]+(?<!\.lock)(?<![/.])$/,
    "must be a valid git branch name",
  );

export const RepoSpec = z.object({
  /**
   * https://, ssh:// or user@host:path; file://, absolute paths and http:// only where the API
   * allows local repositories. Checked at creation (CreateLoopInput), not on read: a loop stored
   * before the check stays readable.
   */
  url: z.string().min(1).max(2048),
  baseBranch: GitRef.default("main"),
  /** Defaults to `smith/<loop id>`. */
  workBranch: GitRef.optional(),
  /** The git credential (github-token or github-app) by name; by default the one scoped to the repo's host and owner. */
  credential: CredentialName.optional(),
});
export type RepoSpec = z.infer<typeof RepoSpec>;

export const CommitPolicy = z.object({
  /** Skip the repository's own git hooks (pre-commit, commit-msg): only when the spec says so. */
  noVerify: z.boolean().default(false),
  /** A file larger than this fails the story instead of being committed. */
  maxFileBytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(5 * 1024 * 1024),
});
export type CommitPolicy = z.infer<typeof CommitPolicy>;

export const LoopSpec = z.object({
  title: z.string().max(200).optional(),
  repo: RepoSpec,
  prd: PrdSource,
  agent: AgentSpec.default({ provider: "claude", args: [], fallbacks: [] }),
  /** Gates run in addition to the PRD's own `qualityGates`. */
  qualityGates: z.array(z.string().min(1).max(4096)).max(50).default([]),
  limits: LoopLimits.default(LoopLimits.parse({})),
  /** What happens on GitHub at `synced` (GitHub remotes only; other remotes get the branch). */
  pullRequest: z
    .object({
      /** Enable GitHub's auto-merge on the pull request (off by default). */
      autoMerge: z.boolean().default(false),
    })
    .optional(),
  /**
   * `auto`: the PRD's and the spec's gates or, when both give none, gates detected from the
   * repository; with none at all the loop does not run (`no-gates`). `none`: run without gates,
   * taking the agent's word for every story (must be said explicitly).
   */
  gates: z.enum(["auto", "none"]).default("auto"),
  /**
   * What a gate that fails on the untouched base means. `no-worse`: a story passes when every gate
   * that passed on the base still passes. `green`: the base must pass every gate, or the loop stops
   * (`baseline-failing`) before the first story.
   */
  baseline: z.enum(["no-worse", "green"]).default("no-worse"),
  /** How the work branch takes in the latest base before `synced` (then every gate runs once more). */
  integrate: z.enum(["rebase", "merge"]).default("rebase"),
  commit: CommitPolicy.default(CommitPolicy.parse({})),
  /** Webhooks told when this loop enters waiting, flatline or synced (docs/operations.md#notifications). */
  notify: NotifySpec.optional(),
});
export type LoopSpec = z.infer<typeof LoopSpec>;
export type LoopSpecInput = z.input<typeof LoopSpec>;

/** Higher runs first. */
export const Priority = z.number().int().min(0).max(999);
export const DEFAULT_PRIORITY = 100;

export const ConcurrencyKey = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s/]+$/, "must not contain whitespace or `/`")
  // `*` names the global slot pool (the limit on all running loops).
  .refine((k) => k !== "*", "`*` is reserved for the global limit");

/** What a client sends to create a loop. */
export const CreateLoopInput = z
  .object({
    spec: LoopSpec,
    source: LoopSource.default({ type: "direct" }),
    priority: Priority.default(DEFAULT_PRIORITY),
    /** Loops sharing a key share its concurrency limit. Defaults to a key derived from the repo URL. */
    concurrencyKey: ConcurrencyKey.optional(),
    /** Creating twice with the same key returns the first loop. */
    idempotencyKey: z.string().min(1).max(256).optional(),
    labels: z.record(z.string().max(63), z.string().max(256)).default({}),
  })
  .superRefine((input, ctx) => {
    // What no installation accepts (options, remote helpers, credentials); whether local
    // repositories are allowed is the API's setting, checked at its door.
    // An empty URL is already reported by the field's own min(1): one error per problem.
    const url = input.spec.repo.url;
    const problem = url.length > 0 ? repoUrlProblem(url, { allowLocal: true }) : undefined;
    if (problem) ctx.addIssue({ code: "custom", path: ["spec", "repo", "url"], message: problem });
    if (input.source.type === "github_issue" && !GITHUB_ISSUE_REF.test(input.source.ref ?? ""))
      ctx.addIssue({
        code: "custom",
        path: ["source", "ref"],
        message: "a github_issue source needs a ref `owner/repo#N`",
      });
    if (input.spec.prd.kind === "issue" && input.source.type !== "github_issue")
      ctx.addIssue({
        code: "custom",
        path: ["spec", "prd", "kind"],
        message: "a PRD drafted from an issue needs a github_issue source",
      });
  });
export type CreateLoopInput = z.infer<typeof CreateLoopInput>;
export type CreateLoopRequest = z.input<typeof CreateLoopInput>;

export const ExecutorHandle = z.object({
  /** `local` or `kubernetes`. */
  kind: z.string().min(1).max(32),
  /** Executor-specific id: a pid record name, a Job name. */
  id: z.string().min(1).max(512),
  /**
   * The executor instance that started the replica (a host's state dir, a cluster namespace).
   * Only that instance's reports about the replica count as evidence; others go by the lock.
   */
  instance: z.string().min(1).max(256).optional(),
});
export type ExecutorHandle = z.infer<typeof ExecutorHandle>;

export const Progress = z.object({
  done: z.number().int().min(0),
  total: z.number().int().min(0),
});
export type Progress = z.infer<typeof Progress>;

export const PullRequestRef = z.object({
  url: z.string().url().max(2048),
  number: z.number().int().min(1),
  /** GitHub's node id, for mutations. */
  id: z.string().max(256).optional(),
});
export type PullRequestRef = z.infer<typeof PullRequestRef>;

/** `owner/repo#12`: the ref of a `github_issue` source. */
export const GITHUB_ISSUE_REF = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100}#[1-9][0-9]{0,9}$/;

export const LoopStatus = z.object({
  state: LoopState,
  reason: ReasonCode.optional(),
  message: z.string().max(4096).optional(),
  /** Attempts started; the claim of a new attempt increments it. It is the replica's fencing token. */
  attempt: z.number().int().min(0),
  /** Attempts counted against maxAttempts start here (an operator retry moves it). */
  attemptBase: z.number().int().min(0).default(0),
  /** Iterations (counted across attempts, against maxIterations) start here; moved by an operator retry. */
  iterationBase: z.number().int().min(0).default(0),
  iteration: z.number().int().min(0),
  progress: Progress,
  executor: ExecutorHandle.optional(),
  /** The scheduler that claimed the current attempt. */
  claimedBy: z.string().max(128).optional(),
  /** Concurrency slots (etcd keys) held while running; released with the transition out of running. */
  slots: z.array(z.string().max(1024)).max(8).optional(),
  /** The queue key while the loop waits in the queue. */
  queueKey: z.string().max(512).optional(),
  /** Earliest time a retried loop may be claimed again (backoff). */
  notBefore: z.string().datetime().optional(),
  /**
   * Attempts that never started (their claimer died between claim and start), not counted against
   * maxAttempts; past maxAttempts of them, the next one counts, so that a loop that keeps killing
   * its scheduler still ends.
   */
  unstartedAttempts: z.number().int().min(0).optional(),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
  /** First claim; the loop's wall-clock timeout counts from here. */
  startedAt: z.string().datetime().optional(),
  /** Claim of the current attempt. */
  attemptStartedAt: z.string().datetime().optional(),
  finishedAt: z.string().datetime().optional(),
  /** The pull request opened (or updated) for the work branch. */
  pullRequest: PullRequestRef.optional(),
  /** Rounds of review feedback that reopened the loop so far (against limits.maxReviewRounds). */
  reviewRound: z.number().int().min(0).optional(),
  /** The last review round's fingerprint (reviewer or check and its first line): the same one twice waits for a person. */
  reviewFingerprint: z.string().max(128).optional(),
  /** Set by review feedback, cleared at synced: the next attempt addresses the feedback before it syncs again. */
  reviewPending: z.boolean().optional(),
  /** While `waiting`: what the agent (or the replica) asks the person who answers. */
  question: z.string().max(4096).optional(),
  /** While `waiting`: when it started waiting (its waiting timeout counts from here). */
  waitingSince: z.string().datetime().optional(),
  /** While `waiting` with reason `quota`: when the agent's usage limit resets and the loop resumes by itself. */
  resumeAt: z.string().datetime().optional(),
});
export type LoopStatus = z.infer<typeof LoopStatus>;

export const LoopCost = z.object({
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  usd: z.number().min(0),
});
export type LoopCost = z.infer<typeof LoopCost>;
export const ZERO_COST: LoopCost = { inputTokens: 0, outputTokens: 0, usd: 0 };

export const Loop = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  id: LoopId,
  source: LoopSource,
  spec: LoopSpec,
  priority: Priority,
  concurrencyKey: ConcurrencyKey,
  idempotencyKey: z.string().optional(),
  labels: z.record(z.string(), z.string()).default({}),
  status: LoopStatus,
  cost: LoopCost,
  /** Per-story gate results and commits, the baseline and the final verification (bounded). */
  evidence: LoopEvidence.optional(),
  /** Operator steering messages (and answers to a waiting loop's question) not yet delivered to a replica. */
  steering: z
    .array(
      z.object({
        id: z.string(),
        message: z.string().max(LIMITS.steerMessageBytes),
        at: z.string().datetime(),
        actor: z.string(),
        /** Set when the message answers a `waiting` loop: its question, else why it waited. */
        question: z.string().max(4096).optional(),
      }),
    )
    .default([]),
});
export type Loop = z.infer<typeof Loop>;

/** A loop together with the etcd mod revision it was read at (for revision-checked writes). */
export interface VersionedLoop {
  loop: Loop;
  revision: string;
}

/**
 * A concurrency key from a repo URL: host/owner/name, with characters that are not
 * key-safe replaced, so that loops on one repository share a key by default.
 */
export function defaultConcurrencyKey(repoUrl: string): string {
  // Trailing slashes first, so that `…/app.git/` loses its `.git` like `…/app.git` does.
  const trimmed = repoUrl
    .trim()
    .replace(/\/+$/, "")
    .replace(/\.git$/, "");
  const withoutScheme = trimmed.replace(/^[a-z]+:\/\//i, "").replace(/^[^@/]+@/, "");
  const key = withoutScheme.replace(/[:/\s]+/g, "_").replace(/[^A-Za-z0-9._-]/g, "-");
  return (key || "default").slice(-256);
}

export function workBranchOf(loop: Pick<Loop, "id" | "spec">): string {
  return loop.spec.repo.workBranch ?? `smith/${loop.id}`;
}
