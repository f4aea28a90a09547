export { LocalProcessExecutor, type LocalProcessExecutorOptions } from "./local.ts";
