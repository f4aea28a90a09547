import { describe, expect, it } from "vitest";
import { deletedLoopStreamRow, loopRow, loopStreamHeader, loopStreamRow, loopTable } from "./loops.ts";
import { SAMPLE_CREATED, SAMPLE_ID, sampleLoop } from "./testSupport.ts";

const NOW = new Date(Date.parse(SAMPLE_CREATED) + 3 * 60_000);
const running = sampleLoop({
  spec: { title: "Invoices: export to CSV" },
  status: {
    state: "running",
    reason: undefined,
    attempt: 2,
    iteration: 7,
    progress: { done: 1, total: 3 },
    executor: { kind: "local", id: "run-1" },
  },
  cost: { inputTokens: 1200, outputTokens: 300, usd: 1.5 },
  priority: 200,
});

describe("loop table", () => {
  it("has kubectl-style columns; TITLE/REPO falls back to the repository", () => {
    const lines = loopTable([running, sampleLoop({ id: "01jz0000000000000000000001" })], "table", NOW).split("\n");
    expect(lines[0]).toMatch(/^ID\s+TITLE\/REPO\s+STATE\s+REASON\s+PROGRESS\s+ITER\s+ATTEMPT\s+COST\s+AGE$/);
    expect(lines[1]?.split(/\s{3,}/)).toEqual([
      SAMPLE_ID,
      "Invoices: export to CSV",
      "running",
      "-",
      "1/3",
      "7",
      "2",
      "$1.50",
      "3m",
    ]);
    expect(lines[2]?.split(/\s{3,}/)).toEqual([
      "01jz0000000000000000000001",
      "https://github.com/acme/app.git",
      "unresolved",
      "queued",
      "0/0",
      "0",
      "0",
      "$0.00",
      "3m",
    ]);
  });

  it("wide adds PRIORITY, KEY, AGENT, EXECUTOR, PR", () => {
    const [header, row] = loopTable([running], "wide", NOW).split("\n");
    expect(header).toMatch(/AGE\s+PRIORITY\s+KEY\s+AGENT\s+EXECUTOR\s+PR$/);
    expect(row?.split(/\s{3,}/).slice(-5)).toEqual(["200", "github.com_acme_app", "replay", "local/run-1", "-"]);
    const withPr = sampleLoop({
      status: { ...running.status, pullRequest: { url: "https://github.com/acme/app/pull/7", number: 7 } },
    });
    expect(loopRow(withPr, "wide", NOW).at(-1)).toBe("https://github.com/acme/app/pull/7");
    expect(loopRow(sampleLoop(), "wide", NOW).at(-1)).toBe("-");
  });

  it("cuts long titles to 40 characters", () => {
    const cell = loopRow(sampleLoop({ spec: { title: "t".repeat(60) } }), "table", NOW)[1];
    expect(cell).toHaveLength(40);
    expect(cell?.endsWith("…")).toBe(true);
  });
});

describe("streamed loop rows (--watch)", () => {
  it("rows line up under the header without knowing the other rows", () => {
    const header = loopStreamHeader("table");
    const row = loopStreamRow(running, "table", NOW);
    expect(row.indexOf("running")).toBe(header.indexOf("STATE"));
    expect(row.indexOf("$1.50")).toBe(header.indexOf("COST"));
    expect(loopStreamRow(running, "wide", NOW).indexOf("200")).toBe(loopStreamHeader("wide").indexOf("PRIORITY"));
  });

  it("a deleted loop shows its id and 'deleted'", () => {
    const row = deletedLoopStreamRow(SAMPLE_ID, "table");
    expect(row.startsWith(SAMPLE_ID)).toBe(true);
    expect(row.indexOf("deleted")).toBe(loopStreamHeader("table").indexOf("STATE"));
  });
});
