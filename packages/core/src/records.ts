import { z } from "zod";
import { LoopId, LoopState, ReasonCode, SCHEMA_VERSION } from "./loop.ts";
import { LIMITS } from "./limits.ts";

export const ActorType = z.enum(["system", "scheduler", "replica", "agent", "operator", "api"]);
export type ActorType = z.infer<typeof ActorType>;
export const Actor = z.object({
  type: ActorType,
  id: z.string().min(1).max(256),
});
export type Actor = z.infer<typeof Actor>;

export const JOURNAL_PHASES = [
  "lifecycle",
  "scheduled",
  "workspace",
  "prd",
  "prompt",
  "agent",
  "gate",
  // The gates on the untouched base before the first story, and on the integrated tree before synced.
  "baseline",
  "verify",
  "commit",
  "push",
  "steer",
  "guard",
  "handoff",
  "finalize",
  "reconcile",
  // Outbound webhooks about the loop's transitions (delivered or failed).
  "notify",
] as const;
export const JournalPhase = z.enum(JOURNAL_PHASES);
export type JournalPhase = z.infer<typeof JournalPhase>;

export const JournalLevel = z.enum(["debug", "info", "warn", "error"]);
export type JournalLevel = z.infer<typeof JournalLevel>;

const Metadata = z.record(z.string(), z.unknown());

/** What a writer appends; the store assigns `seq` and `ts`. */
export const JournalEntryInput = z.object({
  /** Idempotency: appending an entry id twice stores it once. */
  id: z.string().min(1).max(128).optional(),
  phase: JournalPhase,
  level: JournalLevel.default("info"),
  actor: Actor,
  message: z.string().max(LIMITS.journalMessageBytes),
  command: z.string().max(4096).optional(),
  exitCode: z.number().int().optional(),
  durationMs: z.number().int().min(0).optional(),
  metadata: Metadata.default({}),
  correlationId: z.string().max(128).optional(),
});
export type JournalEntryInput = z.infer<typeof JournalEntryInput>;
export type JournalEntryRequest = z.input<typeof JournalEntryInput>;

export const JournalEntry = JournalEntryInput.extend({
  schemaVersion: z.literal(SCHEMA_VERSION),
  id: z.string().min(1).max(128),
  loopId: LoopId,
  /** Gap-free, starting at 1, per loop. */
  seq: z.number().int().min(1),
  ts: z.string().datetime(),
  correlationId: z.string().max(128),
});
export type JournalEntry = z.infer<typeof JournalEntry>;

export const ValidationState = z.enum(["passed", "failed", "partial", "not-run"]);
export type ValidationState = z.infer<typeof ValidationState>;

const Lines = z.array(z.string().max(8192)).max(1000).default([]);

export const HandoffInput = z.object({
  done: Lines,
  remaining: Lines,
  decisions: Lines,
  uncertain: Lines,
  diffSummary: z
    .string()
    .max(64 * 1024)
    .default(""),
  validation: z.object({
    state: ValidationState,
    details: z
      .string()
      .max(64 * 1024)
      .default(""),
  }),
  nextSteps: Lines,
  artifactRefs: Lines,
});
export type HandoffInput = z.infer<typeof HandoffInput>;

export const Handoff = HandoffInput.extend({
  schemaVersion: z.literal(SCHEMA_VERSION),
  loopId: LoopId,
  attempt: z.number().int().min(1),
  createdAt: z.string().datetime(),
});
export type Handoff = z.infer<typeof Handoff>;

export const Reason = z
  .string()
  .trim()
  .min(1, "a reason is required")
  .max(LIMITS.reasonBytes, `the reason is limited to ${LIMITS.reasonBytes} characters`);

export const Override = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  loopId: LoopId,
  seq: z.number().int().min(1),
  actor: Actor,
  from: LoopState,
  to: LoopState,
  reason: z.string(),
  reasonCode: ReasonCode.optional(),
  at: z.string().datetime(),
  correlationId: z.string().max(128),
});
export type Override = z.infer<typeof Override>;

export const AuditOutcome = z.enum(["ok", "denied", "error"]);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

export const AuditEventInput = z.object({
  actor: Actor.extend({ role: z.string().max(32).optional() }),
  /** The procedure or operation, e.g. `loops.cancel`. */
  action: z.string().min(1).max(128),
  loopId: LoopId.optional(),
  reason: z.string().max(LIMITS.reasonBytes).optional(),
  outcome: AuditOutcome.default("ok"),
  /** Error code when the outcome is not ok. */
  error: z.string().max(256).optional(),
  correlationId: z.string().max(128),
  details: Metadata.default({}),
});
export type AuditEventInput = z.infer<typeof AuditEventInput>;
export type AuditEventRequest = z.input<typeof AuditEventInput>;

export const AuditEvent = AuditEventInput.extend({
  schemaVersion: z.literal(SCHEMA_VERSION),
  id: z.string(),
  at: z.string().datetime(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;
