export { ClaudeCodeAdapter, type ClaudeCodeAdapterOptions, claudeCodeArgs } from "./claudeCode.ts";
export { CodexAdapter, type CodexAdapterOptions, codexArgs } from "./codex.ts";
export {
  CommandAdapter,
  type CommandAdapterOptions,
  MODEL_ENV,
  PROMPT_FILE_ENV,
  PROMPT_FILE_TOKEN,
  shellQuote,
} from "./command.ts";
export { ReplayAdapter, type ReplayAdapterOptions } from "./replay.ts";
export { createAgent, type CreateAgentOptions } from "./createAgent.ts";
export { DEFAULT_AGENT_CREDENTIALS, sanitizeEnv, type SanitizeEnvOptions } from "./sanitizeEnv.ts";
export { type ProcessResult, type RunProcessOptions, runProcess } from "./process.ts";
export { ProcessGroupRecords, endRecordedGroups } from "./processGroups.ts";
export {
  AgentRunnerError,
  MAX_RUNNER_MESSAGE_BYTES,
  pingRunner,
  type RunnerMessage,
  type RunnerRequest,
  type RunnerRunRequest,
} from "./remoteProcess.ts";
export { ClaudeStreamParser, type ClaudeStreamParserOptions } from "./claudeStream.ts";
export { CodexJsonlParser } from "./codexJsonl.ts";
export { type OutputParser, type ParsedOutcome } from "./agentCli.ts";
export { BOUNDS } from "./bounds.ts";
