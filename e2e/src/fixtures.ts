import { etcdTest } from "@smith/testing";
import { Stack } from "./harness.ts";

/** `stack`: the API over HTTP on the file's etcd (the test's own prefix) and a state dir; schedulers and replicas it started are stopped after the test. */
export const stackTest = etcdTest.extend("stack", async ({ etcdEndpoint, prefix, tmpDir }, { onCleanup }) => {
  const stack = await Stack.start(etcdEndpoint, prefix, tmpDir);
  onCleanup(() => stack.close());
  return stack;
});
