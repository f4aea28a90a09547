import { loopRequest } from "@smith/store/testSupport";
import { BENCH } from "./config.ts";
import type { BenchContext, Suite, Workload } from "./suite.ts";

/** `loops.create`: validation, the loop record and one txn (loop + queue key, absent-compare). */
export const loopsSuite: Suite = {
  name: "loops",
  async workloads(ctx: BenchContext): Promise<Workload[]> {
    const store = ctx.store(ctx.prefix("loops"));
    const bytes = Buffer.byteLength(JSON.stringify(store.loops.build(loopRequest())));
    return [
      {
        id: "loops.create",
        name: "createLoop",
        unit: "ops/s",
        vs: ["raw.put", "raw.txn"],
        concurrency: BENCH.concurrency,
        describe: `${bytes} B loop records (inline 2-story PRD)`,
        op: async () => {
          await store.loops.create(loopRequest());
        },
      },
    ];
  },
};
