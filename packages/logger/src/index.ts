export {
  LOG_LEVELS,
  REDACTED,
  captureLogs,
  createLogger,
  silentLogger,
  type LogFields,
  type LogFn,
  type LogLevel,
  type LogRecord,
  type Logger,
  type LoggerOptions,
} from "./logger.ts";
