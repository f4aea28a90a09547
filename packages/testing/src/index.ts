export * from "./standalone.ts";
export { etcdTest, githubTest, tmpDirTest } from "./fixtures.ts";
