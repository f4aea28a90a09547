import { randomBytes } from "node:crypto";

/**
 * A fresh etcd key prefix such as `/smith-test/3f9a1c0b7d2e/`, so that tests sharing one etcd
 * server (the file-scoped `etcd` fixture) never see each other's keys.
 */
export function testPrefix(): string {
  return `/smith-test/${randomBytes(6).toString("hex")}/`;
}
