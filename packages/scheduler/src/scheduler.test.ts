import type { CreateLoopRequest } from "@smith/core";
import { LocalProcessExecutor } from "@smith/executor";
import { silentLogger } from "@smith/logger";
import { SmithStore } from "@smith/store";
import { etcdTest as test, startTcpProxy } from "@smith/testing";
import { describe, expect, vi } from "vitest";
import { Scheduler } from "./scheduler.ts";

const PRD = JSON.stringify({
  project: "p",
  qualityGates: ["true"],
  stories: [{ id: "A", title: "a", status: "open", acceptanceCriteria: ["c"] }],
});
const request: CreateLoopRequest = {
  spec: { repo: { url: "file:///nowhere.git" }, prd: { kind: "inline", content: PRD }, agent: { provider: "replay" } },
};

describe("scheduler", () => {
  test("started while etcd is unreachable, it waits with backoff and claims once etcd answers", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const url = new URL(etcdEndpoint);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    const direct = new SmithStore({ endpoints: [etcdEndpoint], prefix });
    const store = new SmithStore({ endpoints: [proxy.endpoint], prefix, dialTimeoutMs: 300, callTimeoutMs: 1_000 });
    const executor = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/sh", "-c", "sleep 30"], env: {} });
    const scheduler = new Scheduler({
      store,
      executor,
      signingKey: "k".repeat(32),
      log: silentLogger,
      maxReconnectDelayMs: 500,
      sessionTtlSeconds: 3,
    });
    try {
      proxy.cut();
      const started = scheduler.start();
      const { loop } = await direct.loops.create(request);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(scheduler.state).toBe("starting");
      expect((await direct.loops.getOrThrow(loop.id)).loop.status.state).toBe("unresolved");
      await proxy.restore();
      await started;
      expect(scheduler.state).toBe("running");
      await vi.waitFor(
        async () => expect((await direct.loops.getOrThrow(loop.id)).loop.status.executor?.kind).toBe("local"),
        { timeout: 15_000, interval: 200 },
      );
    } finally {
      await scheduler.stop();
      for (const r of await executor.list()) await executor.stop(r.handle);
      store.close();
      direct.close();
      await proxy.close();
    }
  });

  test("stop() while it waits for etcd ends start() with the scheduler stopped", async ({ tmpDir }) => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: 9 });
    proxy.cut();
    const store = new SmithStore({ endpoints: [proxy.endpoint], dialTimeoutMs: 300, callTimeoutMs: 1_000 });
    const executor = new LocalProcessExecutor({ stateDir: tmpDir, command: ["/bin/true"], env: {} });
    const scheduler = new Scheduler({ store, executor, signingKey: "k".repeat(32), log: silentLogger });
    try {
      const started = scheduler.start();
      await new Promise((r) => setTimeout(r, 700));
      expect(scheduler.state).toBe("starting");
      await scheduler.stop();
      await started;
      expect(scheduler.state).toBe("stopped");
    } finally {
      store.close();
      await proxy.close();
    }
  });
});
