export * from "./standalone.ts";
export { etcdTest, tmpDirTest } from "./fixtures.ts";
