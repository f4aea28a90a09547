import { describe, expect, it } from "vitest";
import { costSummaryTable, loopCostTable } from "./cost.ts";
import { SAMPLE_ID } from "./testSupport.ts";

const cells = (table: string, line: number) => table.split("\n")[line]?.split(/\s{3,}/);

describe("cost tables", () => {
  it("one loop, and the summary", () => {
    expect(
      cells(
        loopCostTable({
          loopId: SAMPLE_ID,
          cost: { inputTokens: 10, outputTokens: 5, usd: 0.5 },
          iteration: 3,
          budgetUsd: 2,
        }),
        1,
      ),
    ).toEqual([SAMPLE_ID, "3", "10", "5", "$0.50", "$2.00"]);
    expect(
      cells(
        loopCostTable({ loopId: SAMPLE_ID, cost: { inputTokens: 0, outputTokens: 0, usd: 0 }, iteration: 0 }),
        1,
      )?.at(-1),
    ).toBe("-");
    expect(costSummaryTable({ loops: 2, inputTokens: 10, outputTokens: 5, usd: 1 }).split("\n")).toEqual([
      "LOOPS   INPUT TOKENS   OUTPUT TOKENS   COST",
      "2       10             5               $1.00",
    ]);
  });
});
