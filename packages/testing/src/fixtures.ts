import { test } from "vitest";
import { type StartEtcdOptions, startEtcd } from "./etcd.ts";
import { testPrefix } from "./keyPrefix.ts";
import { tempDir } from "./tempDir.ts";
import { GitHubServer } from "./github/server.ts";

// Vitest finds a fixture's dependencies by reading the destructuring pattern of its first
// parameter, so each fixture below names the fixtures it needs there, even when unused.

/** `tmpDir`: a fresh temporary directory, removed after the test. */
export const tmpDirTest = test.extend("tmpDir", async ({ task: _task }, { onCleanup }) => {
  const dir = await tempDir();
  onCleanup(() => dir.remove());
  return dir.path;
});

/**
 * Fixtures for tests against a real etcd:
 * - `etcd` (file scope): one server shared by the tests of a file, destroyed after the file.
 *   Do not stop, kill or restart it; use `isolatedEtcd` for that.
 * - `etcdEndpoint` (file scope): `etcd.endpoint`.
 * - `prefix` (per test): a fresh key prefix from `testPrefix()`; keep every key under it.
 * - `isolatedEtcd` (per test): a server of the test's own, destroyed after the test.
 * - `etcdOptions` (file scope): options for both servers. Override them for a whole file with
 *   `etcdTest.override("etcdOptions", { ... })` at the file's top level (vitest refuses to
 *   override a file-scoped fixture inside a describe block).
 * - `tmpDir` (per test), from `tmpDirTest`.
 */
export const etcdTest = tmpDirTest
  .extend<"etcdOptions", StartEtcdOptions>("etcdOptions", { scope: "file" }, {})
  .extend("etcd", { scope: "file" }, async ({ etcdOptions }, { onCleanup }) => {
    const etcd = await startEtcd(etcdOptions);
    onCleanup(() => etcd.destroy());
    return etcd;
  })
  .extend("etcdEndpoint", { scope: "file" }, ({ etcd }) => etcd.endpoint)
  .extend("prefix", () => testPrefix())
  .extend("isolatedEtcd", async ({ etcdOptions }, { onCleanup }) => {
    const etcd = await startEtcd(etcdOptions);
    onCleanup(() => etcd.destroy());
    return etcd;
  });

/**
 * `github`: a GitHub-compatible server of the test's own (GraphQL over GitHub's published
 * schema, App token REST endpoints, git smart HTTP, a webhook sender), closed after the test.
 */
export const githubTest = tmpDirTest.extend("github", async ({ task: _task }, { onCleanup }) => {
  const server = await GitHubServer.start();
  onCleanup(() => server.close());
  return server;
});
