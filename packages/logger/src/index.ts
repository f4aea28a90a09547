export { jsonLogger, silentLogger, type Logger } from "./logger.ts";
