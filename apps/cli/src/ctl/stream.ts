import type { CtlIO } from "./io.ts";

export interface Subscription {
  unsubscribe(): void;
}

/**
 * Runs a subscription until the command says it is done (`finish(exitCode)`), it fails
 * (`finish(error)`: rethrown, so that it is printed like any other error) or the user interrupts
 * it, which ends it with exit code 0: stopping a stream is how `-f` and `--watch` are meant to end.
 */
export function runStream(
  io: CtlIO,
  start: (finish: (result: number | Error) => void) => Subscription,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let done = false;
    let sub: Subscription | undefined;
    let unregister: () => void = () => undefined;
    const finish = (result: number | Error) => {
      if (done) return;
      done = true;
      unregister();
      sub?.unsubscribe();
      if (typeof result === "number") resolve(result);
      else reject(result);
    };
    unregister = io.onInterrupt(() => finish(0));
    const started = start(finish);
    if (done) started.unsubscribe();
    else sub = started;
  });
}
