import { randomBytes } from "node:crypto";
import type { SmithStore } from "@smith/store";
import { testStore } from "@smith/store/testSupport";
import type { BenchContext } from "./suite.ts";

/** Clean-up steps run in reverse order of registration; each gets a few seconds at most. */
export class Cleanups {
  private readonly steps: (() => unknown)[] = [];

  add(step: () => unknown): void {
    this.steps.push(step);
  }

  async run(timeoutMs = 3000): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      let timer: NodeJS.Timeout | undefined;
      const current = step;
      try {
        // A session revoke against a dead etcd would otherwise wait out the client's retries.
        await Promise.race([
          Promise.resolve().then(current),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, timeoutMs);
          }),
        ]);
      } catch (err) {
        process.stderr.write(`bench: clean-up step failed: ${err instanceof Error ? err.message : String(err)}\n`);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

export function createContext(
  endpoint: string,
  etcdPid: number,
  signal: AbortSignal,
  cleanups: Cleanups,
): BenchContext {
  const run = randomBytes(4).toString("hex");
  let phase = 0;
  return {
    endpoint,
    etcdPid,
    signal,
    prefix: (name) => `/smith-bench/${run}/${String(phase++).padStart(3, "0")}-${name}/`,
    store: (prefix): SmithStore => {
      const store = testStore(endpoint, prefix);
      cleanups.add(() => store.close());
      return store;
    },
    defer: (step) => cleanups.add(step),
    log: (message) => process.stderr.write(`bench: ${message}\n`),
  };
}
