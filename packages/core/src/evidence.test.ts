import { describe, expect, it } from "vitest";
import {
  boundEvidence,
  evidenceTail,
  judgeGates,
  mergeEvidence,
  type GateRun,
  type StoryEvidence,
} from "./evidence.ts";
import { Loop } from "./loop.ts";

const run = (command: string, passed: boolean, outputTail = ""): GateRun => ({
  command,
  exitCode: passed ? 0 : 1,
  durationMs: 5,
  passed,
  timedOut: false,
  outputTail,
});
const story = (id: string, at: string, extra: Partial<StoryEvidence> = {}): StoryEvidence => ({
  storyId: id,
  state: "passed",
  iterations: 1,
  iteration: 1,
  at,
  gates: [run("npm test", true, "ok")],
  ...extra,
});

describe("judgeGates", () => {
  const baseline = { gates: [run("npm test", true), run("npm run lint", false)] };
  const cases: {
    name: string;
    runs: GateRun[];
    rule: "no-worse" | "green";
    base?: typeof baseline;
    passed: boolean;
    blocking: string[];
  }[] = [
    { name: "all pass", runs: [run("npm test", true)], rule: "no-worse", base: baseline, passed: true, blocking: [] },
    {
      name: "a gate green on the base must stay green",
      runs: [run("npm test", false)],
      rule: "no-worse",
      base: baseline,
      passed: false,
      blocking: ["npm test"],
    },
    {
      name: "no-worse: a gate red on the base does not block",
      runs: [run("npm test", true), run("npm run lint", false)],
      rule: "no-worse",
      base: baseline,
      passed: true,
      blocking: [],
    },
    {
      name: "green: every gate must pass",
      runs: [run("npm test", true), run("npm run lint", false)],
      rule: "green",
      base: baseline,
      passed: false,
      blocking: ["npm run lint"],
    },
    {
      name: "no baseline: every gate must pass",
      runs: [run("npm run lint", false)],
      rule: "no-worse",
      passed: false,
      blocking: ["npm run lint"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const j = judgeGates(c.runs, c.base, c.rule);
      expect(j.passed).toBe(c.passed);
      expect(j.blocking.map((b) => b.command)).toEqual(c.blocking);
    });
  }
  it("marks the gates it lets through", () => {
    const j = judgeGates([run("npm run lint", false)], baseline, "no-worse");
    expect(j.runs[0]?.failedAtBaseline).toBe(true);
  });
});

describe("mergeEvidence", () => {
  it("adds stories, replaces a story's entry, keeps the other parts", () => {
    const gates = {
      source: "detected" as const,
      commands: ["npm test"],
      detectedFrom: ["package.json scripts.test (npm)"],
    };
    let e = mergeEvidence(undefined, { gates });
    e = mergeEvidence(e, { story: story("A", "2025-01-01T00:00:01.000Z", { state: "failed" }) });
    e = mergeEvidence(e, { story: story("B", "2025-01-01T00:00:02.000Z") });
    e = mergeEvidence(e, { story: story("A", "2025-01-01T00:00:03.000Z", { iterations: 2, commit: "abc" }) });
    expect(e.gates).toEqual(gates);
    expect(e.stories.map((s) => [s.storyId, s.state, s.iterations])).toEqual([
      ["A", "passed", 2],
      ["B", "passed", 1],
    ]);
  });

  it("stays within its byte bound: oldest output tails first, then oldest stories", () => {
    const big = "x".repeat(2000);
    let e = mergeEvidence(undefined, {});
    for (let i = 0; i < 40; i++) {
      const at = new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString();
      e = mergeEvidence(e, { story: story(`S${i}`, at, { gates: [run("npm test", true, big)] }) }, 40 * 1024);
    }
    expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThanOrEqual(40 * 1024);
    expect(e.stories).toHaveLength(40);
    expect(e.stories[0]?.gates[0]?.outputTail).toMatch(/dropped/);
    expect(e.stories[39]?.gates[0]?.outputTail).toBe(big);
    const tiny = boundEvidence(e, 2 * 1024);
    expect(Buffer.byteLength(JSON.stringify(tiny))).toBeLessThanOrEqual(2 * 1024);
    expect(tiny.stories.at(-1)?.storyId).toBe("S39");
  });
});

describe("evidenceTail", () => {
  it("keeps the end with a marker and fits the schema", () => {
    const t = evidenceTail("a".repeat(10_000) + "THE END");
    expect(t.endsWith("THE END")).toBe(true);
    expect(t).toMatch(/^\[… \d+ bytes truncated …\]\n/);
    expect(Buffer.byteLength(t)).toBeLessThanOrEqual(2048);
  });
});

describe("Loop with evidence", () => {
  it("an old loop record without evidence still parses", () => {
    expect(Loop.shape.evidence.safeParse(undefined).success).toBe(true);
  });
});
