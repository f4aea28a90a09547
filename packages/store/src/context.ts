import type { Etcd3 } from "etcd3";
import type { Keyspace } from "./keys.ts";
import type { WatchHub } from "./watch.ts";

/** What every repository of the store shares. */
export interface StoreContext {
  client: Etcd3;
  keys: Keyspace;
  /** Injectable clock (tests move time forward to exercise backoff and timeouts). */
  now: () => Date;
  /** Live watches shared by the consumers of one prefix (journal tails of one loop). */
  watches: WatchHub;
}
