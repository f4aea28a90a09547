// Helpers shared by the integration tests of this package and of its consumers (as
// @smith/store/testSupport) and the benchmark. Not exported from index.
import type { CreateLoopRequest } from "@smith/core";
import { ConsecutiveBreaker, circuitBreaker, handleWhen, noop } from "cockatiel";
import { Etcd3, isRecoverableError } from "etcd3";
import { SmithStore } from "./store.ts";

/**
 * A store for tests. `fastRecovery` swaps the client's circuit breaker for one that half-opens
 * after 100 ms, so tests that cut the connection do not wait out etcd3's default 5 s breaker.
 */
export function testStore(
  endpoint: string,
  prefix: string,
  options: { now?: () => Date; fastRecovery?: boolean } = {},
): SmithStore {
  const client = options.fastRecovery
    ? new Etcd3({
        hosts: [endpoint],
        dialTimeout: 1000,
        faultHandling: {
          host: () =>
            circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 100, breaker: new ConsecutiveBreaker(50) }),
          global: noop,
        },
      })
    : undefined;
  const store = new SmithStore({ endpoints: [endpoint], prefix, now: options.now, ...(client ? { client } : {}) });
  if (client) {
    const close = store.close.bind(store);
    store.close = () => {
      close();
      client.close();
    };
  }
  return store;
}

export const SMALL_PRD = JSON.stringify({
  project: "demo",
  qualityGates: ["npm test"],
  stories: [
    { id: "US-001", title: "One", status: "open", dependsOn: [], description: "d", acceptanceCriteria: ["a"] },
    { id: "US-002", title: "Two", status: "done", dependsOn: [], description: "d", acceptanceCriteria: ["a"] },
  ],
});

export function loopRequest(
  overrides: Partial<CreateLoopRequest> = {},
  repo = "https://example.com/acme/app.git",
): CreateLoopRequest {
  return {
    spec: { repo: { url: repo }, prd: { kind: "inline", content: SMALL_PRD }, agent: { provider: "replay" } },
    ...overrides,
  };
}

export async function collect<T>(iterable: AsyncIterable<T>, count: number, timeoutMs = 30_000): Promise<T[]> {
  const out: T[] = [];
  const timer = setTimeout(() => undefined, timeoutMs);
  try {
    for await (const item of iterable) {
      out.push(item);
      if (out.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}
