import { stackTest as test } from "./fixtures.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { claudeFake, CLAIMS_ONLY, FAKE_PRD, WORKS } from "./fakes.ts";
import { writeFakeAgent } from "./harness.ts";
import { branchSubjects, demo } from "./support.ts";

const ALL = ["synced", "flatline", "waiting", "cancelled"] as const;

/**
 * Records every prompt, then does the work once a person's answer has been in a prompt (an answer
 * is delivered to one prompt only; the agent remembers it as a person would, in a file).
 */
function needsAnAnswer(prompts: string): string {
  const answered = `${prompts}.answered`;
  return `fs.appendFileSync(${JSON.stringify(prompts)}, prompt + "\\n=====\\n");
if (prompt.includes("## Answers from a person")) fs.writeFileSync(${JSON.stringify(answered)}, "");
if (fs.existsSync(${JSON.stringify(answered)})) { ${WORKS} } else { ${CLAIMS_ONLY} }`;
}

function loopOf(remote: string, prdPath: string, limits: Record<string, number> = {}) {
  return {
    spec: {
      repo: { url: remote },
      prd: { kind: "path" as const, path: prdPath },
      agent: { provider: "claude" as const },
      limits,
    },
  };
}

describe("a loop that needs a person waits for one", () => {
  test("an agent that always fails: waiting after N; answered, it resumes with the answer in its prompt and syncs", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const prompts = join(tmpDir, "prompts.txt");
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(needsAnAnswer(prompts)));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create(loopOf(d.remoteUrl, d.prdPath, { maxConsecutiveFailures: 2 }));
    const waiting = await stack.waitFor(created.id, [...ALL], 60_000);
    expect(waiting.status).toMatchObject({ state: "waiting", reason: "needs-human", attempt: 1, iteration: 2 });
    expect(waiting.status.message).toMatch(/US-001 failed 2 iterations in a row/);
    // The attempt is over and its slot is free.
    expect(await stack.store.client.getAll().prefix(stack.store.keys.slotsPrefix()).count()).toBe(0);

    await stack.admin.loops.answer.mutate({ id: created.id, answer: "write done-<story>.txt, nothing else" });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 60_000);
    expect(loop.status).toMatchObject({ state: "synced", attempt: 2, iteration: 4, progress: { done: 2, total: 2 } });
    expect(loop.steering).toEqual([]);
    const all = readFileSync(prompts, "utf8").split("\n=====\n").filter(Boolean);
    expect(all).toHaveLength(4);
    expect(all.slice(0, 2).some((p) => p.includes("write done-<story>.txt"))).toBe(false);
    // The first prompt after the answer carries it, under why the loop waited.
    expect(all[2]).toMatch(
      /## Answers from a person[^\n]*\n\nQuestion: US-001 failed 2 iterations in a row[^\n]*\nAnswer \(bootstrap admin.*?\): write done-<story>\.txt, nothing else/,
    );
    expect(branchSubjects(d.remoteUrl, `smith/${loop.id}`)).toEqual(["feat(US-001): First", "feat(US-002): Second"]);
    const journal = await stack.journal(loop.id);
    expect(journal.some((e) => e.phase === "lifecycle" && /^answered by bootstrap admin/.test(e.message))).toBe(true);
  }, 150_000);

  test("an agent that asks with SMITH-QUESTION: waiting (question); the answer reaches the next prompt under the question", async ({
    stack,
    tmpDir,
  }) => {
    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    const prompts = join(tmpDir, "prompts.txt");
    const asks = `fs.appendFileSync(${JSON.stringify(prompts)}, prompt + "\\n=====\\n");
if (prompt.includes("## Answers from a person") || story !== "US-001") { ${WORKS} } else {
  emit({ type: "result", subtype: "success", is_error: false, duration_ms: 5, num_turns: 1, result: "I need a decision.\\nSMITH-QUESTION: Which file name?", session_id: "fake", total_cost_usd: 0.01, usage: { input_tokens: 10, output_tokens: 5 } });
  process.exit(0);
}`;
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(asks));
    stack.startScheduler({ SMITH_CLAUDE_BIN: bin });
    const created = await stack.create(loopOf(d.remoteUrl, d.prdPath));
    const waiting = await stack.waitFor(created.id, [...ALL], 30_000);
    expect(waiting.status).toMatchObject({ state: "waiting", reason: "question", question: "Which file name?" });
    expect(waiting.status.iteration).toBe(1);

    await stack.admin.loops.answer.mutate({ id: created.id, answer: "done-<story>.txt" });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 40_000);
    expect(loop.status.state).toBe("synced");
    const all = readFileSync(prompts, "utf8").split("\n=====\n").filter(Boolean);
    expect(all[1]).toMatch(/Question: Which file name\?\nAnswer \(bootstrap admin.*?\): done-<story>\.txt/);
  });
});
