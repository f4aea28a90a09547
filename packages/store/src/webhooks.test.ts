import { etcdTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { SmithStore } from "./store.ts";

describe("webhook deliveries", () => {
  test("a delivery is taken once; its record expires by itself after the retention (one lease per bucket)", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const store = new SmithStore({ endpoints: [etcdEndpoint], prefix, webhookRetentionMs: 1500 });
    try {
      expect(await store.webhooks.claim("d-1", "github", "issues")).toBe(true);
      expect(await store.webhooks.claim("d-1", "github", "issues")).toBe(false);
      expect(await store.webhooks.claim("d-2", "github", "issues")).toBe(true);
      await store.webhooks.complete("d-1", "loop-created 01x");
      expect(await store.webhooks.get("d-1")).toMatchObject({ state: "done", outcome: "loop-created 01x" });
      // Both records share one lease, kept by complete(), of retention + bucket (3 s here).
      const deliveries = async () =>
        (await store.client.getAll().prefix(store.keys.root).exec()).kvs.filter((kv) =>
          kv.key.toString().includes("/webhooks/deliveries/"),
        );
      const kvs = await deliveries();
      expect(kvs).toHaveLength(2);
      const leases = new Set(kvs.map((kv) => kv.lease));
      expect(leases.size).toBe(1);
      const [lease] = [...leases];
      expect(lease).not.toBe("0");
      // Gone after at most retention + bucket; then the same id would be taken again.
      const deadline = Date.now() + 10_000;
      while ((await store.webhooks.get("d-1")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      expect(await store.webhooks.get("d-1")).toBeUndefined();
      expect(await store.webhooks.get("d-2")).toBeUndefined();
      expect(await deliveries()).toEqual([]);
      expect(await store.webhooks.claim("d-1", "github", "issues")).toBe(true);
    } finally {
      store.close();
    }
  });
});
