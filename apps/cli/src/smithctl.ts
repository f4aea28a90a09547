#!/usr/bin/env node
// smithctl's composition root: the only place it reads the environment and touches the process.
import { readFileSync } from "node:fs";
import { enableCompileCache } from "node:module";

// Most of a short command's time is compiling zod and tRPC; Node's on-disk compile cache cuts
// it from about 0.8 s to 0.2 s. It must be on before those modules load, hence the dynamic imports.
enableCompileCache();
const { defaultConfigPath } = await import("./config.ts");
const { runSmithctl } = await import("./ctl/run.ts");

const interruptHandlers = new Set<() => void>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // A streaming command (-f, --watch) stops cleanly; anything else ends at once.
    if (interruptHandlers.size === 0) process.exit(signal === "SIGINT" ? 130 : 143);
    for (const h of [...interruptHandlers]) h();
  });
}

// `smithctl logs -f | head`: once the reader is gone there is nobody to print for.
process.stdout.on("error", (err: NodeJS.ErrnoException) => process.exit(err.code === "EPIPE" ? 0 : 1));

const env = process.env;
runSmithctl(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text + "\n"),
  stderr: (text) => process.stderr.write(text + "\n"),
  env: { SMITH_API_URL: env.SMITH_API_URL, SMITH_TOKEN: env.SMITH_TOKEN, SMITH_CONTEXT: env.SMITH_CONTEXT },
  configPath: defaultConfigPath(env),
  cwd: process.cwd(),
  readFile: (path) => readFileSync(path, "utf8"),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return { text: Buffer.concat(chunks).toString("utf8"), tty: process.stdin.isTTY === true };
  },
  getEnv: (name) => env[name],
  now: () => new Date(),
  onInterrupt: (handler) => {
    interruptHandlers.add(handler);
    return () => interruptHandlers.delete(handler);
  },
}).then(
  (code) => exitAfterDrain(code),
  (err: unknown) => {
    process.stderr.write(
      `smithctl: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    exitAfterDrain(1);
  },
);

/**
 * Exits once stdout and stderr have handed everything to the OS. Writes to a pipe are
 * asynchronous in Node: exiting at once would cut `smithctl get loops -o json | jq` at the pipe's
 * buffer (64 KiB) and still exit 0. Exit explicitly all the same: the HTTP client's keep-alive
 * sockets would otherwise hold the process open.
 */
function exitAfterDrain(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  // A write's callback runs once it and everything queued before it are flushed.
  process.stdout.write("", done);
  process.stderr.write("", done);
}
