export { createSmithClient, type SmithClient, type SmithClientOptions } from "./client.ts";
export { TRPCClientError } from "@trpc/client";
export type { AppRouter, RouterInputs, RouterOutputs } from "./types.ts";
// The domain types a caller meets in inputs and results, so that a service can name them
// without depending on Smith's server packages.
export type {
  Actor,
  AgentProvider,
  AgentSpec,
  AuditEvent,
  CreateLoopRequest,
  ErrorCode,
  ExecutorHandle,
  Handoff,
  JournalEntry,
  JournalLevel,
  JournalPhase,
  Loop,
  LoopCost,
  LoopId,
  LoopLimits,
  LoopSource,
  LoopSourceType,
  LoopSpec,
  LoopState,
  LoopStatus,
  Override,
  Prd,
  PrdDiagnostic,
  PrdStory,
  PrdValidationReport,
  Progress,
  ReasonCode,
  RepoSpec,
  SmithErrorDetails,
} from "@smith/core";
