// vitest fixtures for this package's tests (kept apart from testSupport.ts, which the benchmark
// imports outside vitest, where test.extend throws).
import { etcdTest } from "@smith/testing";
import { startTestApi } from "./testSupport.ts";

/** `api`: a real API server on port 0 over the file's real etcd, under the test's own prefix; closed after the test. */
export const apiTest = etcdTest.extend("api", async ({ etcdEndpoint, prefix }, { onCleanup }) => {
  const api = await startTestApi(etcdEndpoint, prefix);
  onCleanup(() => api.close());
  return api;
});
