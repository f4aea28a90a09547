import { describe, expect, it } from "vitest";
import { Loop, type LoopState } from "./loop.ts";
import { RetentionPolicy, retentionVerdict } from "./retention.ts";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");
const DAY = 86_400_000;

function loop(state: LoopState, finishedAt?: number): Loop {
  return Loop.parse({
    schemaVersion: 1,
    id: "01jb8z6m3k9w4x7q2r5t8v1c0d",
    source: { type: "direct" },
    spec: { repo: { url: "file:///r" }, prd: { kind: "path" } },
    priority: 100,
    concurrencyKey: "r",
    status: {
      state,
      attempt: 1,
      iteration: 0,
      progress: { done: 0, total: 0 },
      createdAt: new Date(T0).toISOString(),
      updatedAt: new Date(T0).toISOString(),
      ...(finishedAt !== undefined ? { finishedAt: new Date(finishedAt).toISOString() } : {}),
    },
    cost: { inputTokens: 0, outputTokens: 0, usd: 0 },
  });
}

describe("retentionVerdict", () => {
  const windows = { synced: 7 * DAY, flatline: 30 * DAY, running: DAY };
  it.each([
    ["synced, past its window", loop("synced", T0), T0 + 7 * DAY, "delete"],
    ["synced, inside its window", loop("synced", T0), T0 + 7 * DAY - 1, "keep"],
    ["flatline keeps its own, longer window", loop("flatline", T0), T0 + 7 * DAY, "keep"],
    ["cancelled has no window: kept forever", loop("cancelled", T0), T0 + 3650 * DAY, "keep"],
    ["an old running loop is reported, never deleted", loop("running"), T0 + 2 * DAY, "skip"],
  ] as const)("%s", (_name, l, now, action) => {
    expect(retentionVerdict(l, windows, now).action).toBe(action);
  });

  it("says why an active loop is skipped", () => {
    expect(retentionVerdict(loop("running"), windows, T0 + 2 * DAY)).toEqual({
      action: "skip",
      since: T0,
      why: "running is active: cancel it first",
    });
  });
});

describe("RetentionPolicy", () => {
  it("defaults the per-pass cap and names the bound a bad window breaks", () => {
    expect(RetentionPolicy.parse({ windows: { synced: DAY } }).maxPerPass).toBe(500);
    const bad = RetentionPolicy.safeParse({ windows: { synced: 0 }, maxPerPass: 10_001 });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      ["windows.synced", "must be at least 1 ms"],
      ["maxPerPass", "must be at most 10000"],
    ]);
  });
});
