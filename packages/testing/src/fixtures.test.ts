import { access } from "node:fs/promises";
import { expect } from "vitest";
import { isEtcdHealthy } from "./etcd.ts";
import { gatewayGet, gatewayPut } from "./etcdGateway.ts";
import { etcdTest as test } from "./fixtures.ts";

const seen = { endpoints: new Set<string>(), prefixes: new Set<string>(), tmpDirs: [] as string[] };

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

test("etcd is a healthy server and etcdEndpoint is its endpoint", async ({ etcd, etcdEndpoint, prefix }) => {
  expect(etcdEndpoint).toBe(etcd.endpoint);
  expect(await isEtcdHealthy(etcdEndpoint)).toBe(true);
  seen.endpoints.add(etcdEndpoint);
  seen.prefixes.add(prefix);
});

test("etcd is shared by the tests of a file; prefix is not", async ({ etcdEndpoint, prefix }) => {
  seen.endpoints.add(etcdEndpoint);
  seen.prefixes.add(prefix);
  expect(seen.endpoints.size).toBe(1);
  expect(seen.prefixes.size).toBe(2);
  expect(prefix).toMatch(/^\/smith-test\/[0-9a-f]{12}\/$/);
});

test("tmpDir exists during the test", async ({ tmpDir }) => {
  expect(await exists(tmpDir)).toBe(true);
  seen.tmpDirs.push(tmpDir);
});

test("tmpDir is removed after the test", async () => {
  expect(seen.tmpDirs).toHaveLength(1);
  for (const dir of seen.tmpDirs) expect(await exists(dir)).toBe(false);
});

test("isolatedEtcd is a server of the test's own", async ({ isolatedEtcd, etcd, prefix }) => {
  expect(isolatedEtcd.endpoint).not.toBe(etcd.endpoint);
  await gatewayPut(isolatedEtcd.endpoint, `${prefix}k`, "v");
  await isolatedEtcd.restart();
  expect(await gatewayGet(isolatedEtcd.endpoint, `${prefix}k`)).toBe("v");
  expect(await gatewayGet(etcd.endpoint, `${prefix}k`)).toBeUndefined();
});
