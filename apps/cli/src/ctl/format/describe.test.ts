import { LoopEvidence, type Handoff, type JournalEntry } from "@smith/core";
import { describe, expect, it } from "vitest";
import { describeLoop } from "./describe.ts";
import { SAMPLE_CREATED, SAMPLE_ID, sampleLoop } from "./testSupport.ts";

const NOW = new Date(Date.parse(SAMPLE_CREATED) + 3600_000);
const PRD = JSON.stringify({
  project: "demo",
  stories: [
    { id: "US-001", title: "Parse input", status: "open", dependsOn: [], description: "d", acceptanceCriteria: ["a"] },
    { id: "US-002", title: "Print output", status: "open", dependsOn: [], description: "d", acceptanceCriteria: ["a"] },
  ],
});

function entry(seq: number, message: string): JournalEntry {
  return {
    schemaVersion: 1,
    id: `e${seq}`,
    loopId: SAMPLE_ID,
    seq,
    ts: SAMPLE_CREATED,
    phase: "agent",
    level: "info",
    actor: { type: "replica", id: "r" },
    message,
    metadata: {},
    correlationId: "c",
  };
}

const handoff: Handoff = {
  schemaVersion: 1,
  loopId: SAMPLE_ID,
  attempt: 2,
  createdAt: SAMPLE_CREATED,
  done: ["US-001 parse input"],
  remaining: ["US-002 print output"],
  decisions: [],
  uncertain: [],
  diffSummary: "",
  validation: { state: "partial", details: "" },
  nextSteps: ["wire the printer"],
  artifactRefs: [],
};

describe("describeLoop", () => {
  const loop = sampleLoop({
    spec: {
      title: "Calculator",
      prd: { kind: "inline", content: PRD },
      agent: { provider: "command", command: "my-agent --fast" },
      limits: { maxCostUsd: 5 },
    },
    status: {
      state: "waiting",
      reason: "needs-human",
      message: "US-002 failed 3 times",
      question: "Which printer\u001b[2J?",
      waitingSince: SAMPLE_CREATED,
      attempt: 2,
      iteration: 9,
      progress: { done: 1, total: 2 },
    },
    cost: { inputTokens: 100, outputTokens: 50, usd: 0.25 },
    steering: [{ id: "m1", message: "try\nharder", at: SAMPLE_CREATED, actor: "op" }],
  });
  const text = describeLoop(
    {
      loop,
      journal: [entry(41, "agent exited"), entry(42, "gate failed")],
      journalTotal: 42,
      latestHandoff: handoff,
      overrides: [],
    },
    NOW,
  );

  it("shows the spec", () => {
    expect(text).toContain(`ID:                 ${SAMPLE_ID}`);
    expect(text).toContain("Title:              Calculator");
    expect(text).toContain("  Repository:       https://github.com/acme/app.git");
    expect(text).toContain(`  Work Branch:      smith/${SAMPLE_ID}`);
    expect(text).toMatch(/ {2}PRD: +inline, \d+ bytes, written to \.agents\/tasks\/prd\.json/);
    expect(text).toContain('  Agent:            command (command "my-agent --fast")');
    expect(text).toContain("timeout 4h, agent timeout 30m");
    expect(text).toContain("budget $5.00");
  });

  it("shows the status, stories, steering, handoff and the last journal lines", () => {
    expect(text).toContain("  State:            waiting");
    expect(text).toContain("  Question:         Which printer\\x1b[2J?");
    expect(text).toContain(
      `  Waiting Since:    2025-01-01T12:00:00.000Z (answer: smithctl answer ${SAMPLE_ID} "TEXT")`,
    );
    expect(text).toContain("  Reason:           needs-human");
    expect(text).toContain("  Message:          US-002 failed 3 times");
    expect(text).toContain("  Created:          2025-01-01T12:00:00.000Z (60m ago)");
    expect(text).toContain("  Cost:             $0.25 (100 input tokens, 50 output tokens)");
    expect(text).toMatch(/Stories: +1\/2 done\n {2}US-001 {2}Parse input\n {2}US-002 {2}Print output/);
    expect(text).toMatch(/Steering: +1 pending\n {2}2025-01-01T12:00:00.000Z op: try\\nharder/);
    expect(text).toMatch(
      /Latest Handoff: +attempt 2, 2025-01-01T12:00:00.000Z, validation partial\n {2}Done:\n {4}- US-001 parse input\n {2}Remaining:\n {4}- US-002 print output\n {2}Next Steps:\n {4}- wire the printer/,
    );
    expect(text).toMatch(/Journal \(last 2 of 42\):\n +41 .* agent exited\n +42 .* gate failed$/);
  });

  it("says <none> for what a new loop does not have yet", () => {
    const plain = describeLoop({ loop: sampleLoop(), journal: [], journalTotal: 0, overrides: [] }, NOW);
    expect(plain).toContain("Title:              <none>");
    expect(plain).toContain("  PRD:              .agents/tasks/prd.json in the repository");
    expect(plain).toContain("Latest Handoff:     <none>");
    expect(plain).toContain("Journal:            <none>");
    expect(plain).toContain("Steering:           <none>");
    expect(plain).not.toContain("Overrides:");
  });

  it("shows each story's evidence: gates with exit code and duration, the commit, a failed gate's output tail made visible", () => {
    const run = (command: string, passed: boolean, outputTail = "") => ({
      command,
      exitCode: passed ? 0 : 1,
      durationMs: 1500,
      passed,
      timedOut: false,
      outputTail,
    });
    const withEvidence = {
      ...sampleLoop(),
      evidence: LoopEvidence.parse({
        gates: { source: "detected", commands: ["npm test"], detectedFrom: ["package.json scripts.test (npm)"] },
        baseline: { at: SAMPLE_CREATED, commit: "a".repeat(40), gates: [run("npm test", true)], passed: true },
        stories: [
          {
            storyId: "US-001",
            title: "Parse input",
            state: "passed",
            iterations: 1,
            iteration: 1,
            at: SAMPLE_CREATED,
            gates: [run("npm test", true)],
            commit: "b".repeat(40),
          },
          {
            storyId: "US-002",
            state: "failed",
            iterations: 2,
            iteration: 3,
            at: SAMPLE_CREATED,
            gates: [run("npm test", false, "ok 1\nnot ok 2 - prints \u001b[31mred\u001b[0m\n")],
          },
        ],
      }),
    };
    const text = describeLoop({ loop: withEvidence, journal: [], journalTotal: 0, overrides: [] }, NOW);
    expect(text).toContain("  Gates:            detected: npm test\n    detected from package.json scripts.test (npm)");
    expect(text).toContain(`  Baseline:         green on aaaaaaaaaaaa at ${SAMPLE_CREATED}`);
    expect(text).toContain(
      `  US-001  passed  1 iteration  commit bbbbbbbbbbbb  ${SAMPLE_CREATED}  Parse input\n    pass  npm test  exit 0  1.5s`,
    );
    expect(text).toContain("  US-002  failed  2 iterations");
    expect(text).toContain(
      "    FAIL  npm test  exit 1  1.5s\n      | ok 1\n      | not ok 2 - prints \\x1b[31mred\\x1b[0m",
    );
    expect(text).not.toContain("\u001b");
  });

  it("says when a loop has no evidence yet", () => {
    expect(describeLoop({ loop: sampleLoop(), journal: [], journalTotal: 0, overrides: [] }, NOW)).toContain(
      "Evidence:           <none>",
    );
  });
});
