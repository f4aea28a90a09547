import type { ConnectionEnv } from "./connection.ts";

/** Everything a smithctl command touches outside itself; the entry file supplies the real ones. */
export interface CtlIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** SMITH_API_URL, SMITH_TOKEN, SMITH_CONTEXT. */
  env: ConnectionEnv;
  /** The contexts file (SMITH_CONFIG, else the default path). */
  configPath: string;
  /** The directory relative paths in flags are resolved against. */
  cwd: string;
  readFile(path: string): string;
  /** All of stdin (a credential's value); `tty` says whether a person is typing it. */
  readStdin(): Promise<{ text: string; tty: boolean }>;
  /** Any variable of smithctl's environment (`credentials set --from-env VAR`). */
  getEnv(name: string): string | undefined;
  now(): Date;
  /**
   * Registers what to do on Ctrl-C (or SIGTERM) while a command streams; returns the
   * unregistration. Without a registered handler the entry file exits at once.
   */
  onInterrupt(handler: () => void): () => void;
}
