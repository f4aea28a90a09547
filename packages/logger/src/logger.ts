import { pino, type DestinationStream } from "pino";

/** Levels, most severe first; `silent` drops everything. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

/**
 * pino's call shapes, narrowed to the two Smith uses: a message, or fields then a message. The
 * narrowing makes the old `log.info("message", { fields })` order a type error, which pino itself
 * would accept and silently treat as printf arguments (the fields would be lost).
 */
export interface LogFn {
  (msg: string): void;
  (fields: LogFields, msg: string): void;
}

/** A pino logger as the libraries see it: levels and child loggers (per component, loop, attempt). */
export interface Logger {
  readonly level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  child(bindings: LogFields): Logger;
  isLevelEnabled(level: string): boolean;
}

export interface LoggerOptions {
  /** On every record as `component` (`api`, `scheduler`, `replica`, `smith`). */
  component: string;
  /** Default `info`. */
  level?: LogLevel;
  /**
   * Where the JSON lines go. Default: stderr, written synchronously so that the last records
   * before a `process.exit` are not lost (stdout stays free for a command's own output).
   */
  destination?: DestinationStream;
}

/**
 * Field names whose values never reach a log line, at the top level of a record and one level
 * down (`{ headers: { authorization } }`). Paths are case-sensitive, hence both spellings.
 */
const SECRET_KEYS = [
  "token",
  "authorization",
  "Authorization",
  "password",
  "secret",
  "privateKey",
  "apiKey",
  "signingKey",
  "cookie",
];
export const REDACTED = "[REDACTED]";
const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`]);

/** The process's root logger: JSON lines with an ISO time, a level name and the component. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? "info",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  ).child({ component: options.component });
}

/** Drops every record: for libraries whose caller did not pass a logger. */
export const silentLogger: Logger = createLogger({ component: "silent", level: "silent" });

/** One parsed JSON line, as a test sees it. */
export interface LogRecord extends LogFields {
  level: Exclude<LogLevel, "silent">;
  msg: string;
  component: string;
  time: string;
}

/** A logger that keeps its records in memory, for tests that assert on what was logged. */
export function captureLogs(component = "test", level: LogLevel = "trace"): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const destination: DestinationStream = {
    write: (line: string) => {
      records.push(JSON.parse(line) as LogRecord);
    },
  };
  return { log: createLogger({ component, level, destination }), records };
}
