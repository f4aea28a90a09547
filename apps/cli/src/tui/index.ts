import { createSmithClient } from "@smith/client";
import { render } from "ink";
import { App } from "./components/App.ts";
import { TuiController } from "./controller.ts";
import { html } from "./html.ts";

export interface RunTuiOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:7070`. */
  url: string;
  /** A bearer token; `viewer` is enough to watch, `operator` to cancel, retry and steer. */
  token: string;
  /** The smithctl context name, shown in the header. */
  context: string;
  /** Default `process.stdin`; it must be a TTY (keys are read in raw mode). */
  stdin?: NodeJS.ReadStream;
  /** Default `process.stdout`. */
  stdout?: NodeJS.WriteStream;
}

/**
 * `smith tui`: a full-screen, k9s-style view of the loops, live from `loops.watch` and
 * `journal.tail`. Resolves with the exit code when the user quits (`q`, ctrl-c).
 */
export async function runTui(options: RunTuiOptions): Promise<number> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  if (!stdin.isTTY) throw new Error("smith tui needs an interactive terminal (stdin is not a TTY)");
  let quit: () => void = () => undefined;
  const quitting = new Promise<void>((resolve) => {
    quit = resolve;
  });
  const controller = new TuiController({
    client: createSmithClient({ url: options.url, token: options.token }),
    onQuit: () => quit(),
  });
  const instance = render(html`<${App} controller=${controller} context=${options.context} url=${options.url} />`, {
    stdin,
    stdout,
    // q and ctrl-c go through the key map, so that subscriptions are closed before Ink unmounts.
    exitOnCtrlC: false,
    // Interactive whenever stdout is a terminal, even where a CI variable is set (Ink would
    // otherwise print only the last frame, at exit).
    interactive: Boolean(stdout.isTTY),
    alternateScreen: Boolean(stdout.isTTY),
    incrementalRendering: true,
  });
  controller.start();
  try {
    await Promise.race([quitting, instance.waitUntilExit()]);
  } finally {
    controller.stop();
    instance.unmount();
    await instance.waitUntilExit().catch(() => undefined);
  }
  return 0;
}
