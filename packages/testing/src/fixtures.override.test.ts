import { expect } from "vitest";
import { etcdTest as test } from "./fixtures.ts";

// File-scoped fixtures can only be overridden at the top level of a file.
test.override("etcdOptions", { name: "overridden-member" });

test("etcdOptions reaches both the shared and the isolated server", async ({ etcd, isolatedEtcd }) => {
  expect(etcd.logs()).toContain(`"name":"overridden-member"`);
  expect(isolatedEtcd.logs()).toContain(`"name":"overridden-member"`);
});
