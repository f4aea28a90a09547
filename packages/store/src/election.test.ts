import { startEtcd } from "@smith/testing";
import { describe, expect, test } from "vitest";
import { testStore } from "./testSupport.ts";

describe("leadership", () => {
  test("a candidacy is lost once when etcd dies, and a new candidacy on a dead etcd is lost once too: a holder that campaigns again on each loss never multiplies its candidacies", async () => {
    const etcd = await startEtcd();
    const store = testStore(etcd.endpoint, "/election-test", { fastRecovery: true });
    try {
      const first = store.campaign("reconciler", { candidate: "a", ttlSeconds: 2 });
      const firstLost: Error[] = [];
      first.on("lost", (err) => firstLost.push(err));
      await new Promise<void>((resolve) => first.once("elected", resolve));

      await etcd.kill();
      await expect.poll(() => firstLost.length, { timeout: 15_000 }).toBeGreaterThan(0);

      // etcd3's Campaign reports a failed lease grant twice (the lease's loss and the failed
      // start): as two losses, a holder campaigning again on each one doubled its candidacies
      // every round (the `smith up` whose etcd died grew to gigabytes).
      const second = store.campaign("reconciler", { candidate: "a", ttlSeconds: 2 });
      const secondLost: Error[] = [];
      second.on("lost", (err) => secondLost.push(err));
      await expect.poll(() => secondLost.length, { timeout: 15_000 }).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(firstLost).toHaveLength(1);
      expect(secondLost).toHaveLength(1);
      await second.resign();
      await first.resign();
    } finally {
      store.close();
      await etcd.destroy();
    }
  }, 60_000);
});
