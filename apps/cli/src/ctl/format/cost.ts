import type { LoopCost } from "@smith/core";
import { formatUsd, renderTable } from "./table.ts";

export interface LoopCostView {
  loopId: string;
  cost: LoopCost;
  iteration: number;
  budgetUsd?: number;
}

export interface CostSummaryView {
  loops: number;
  inputTokens: number;
  outputTokens: number;
  usd: number;
}

export function loopCostTable(c: LoopCostView): string {
  return renderTable(
    ["LOOP", "ITER", "INPUT TOKENS", "OUTPUT TOKENS", "COST", "BUDGET"],
    [
      [
        c.loopId,
        String(c.iteration),
        String(c.cost.inputTokens),
        String(c.cost.outputTokens),
        formatUsd(c.cost.usd),
        c.budgetUsd !== undefined ? formatUsd(c.budgetUsd) : "-",
      ],
    ],
  );
}

export function costSummaryTable(c: CostSummaryView): string {
  return renderTable(
    ["LOOPS", "INPUT TOKENS", "OUTPUT TOKENS", "COST"],
    [[String(c.loops), String(c.inputTokens), String(c.outputTokens), formatUsd(c.usd)]],
  );
}
