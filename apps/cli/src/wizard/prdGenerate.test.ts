import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { shellQuote } from "@smith/agents";
import { parsePrd, prdFromMarkdown, validatePrd } from "@smith/core";
import { tmpDirTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { runPrdGenerate, type PrdGenerateOptions } from "./prdGenerate.ts";
import { FakeTerminalInput, FakeTerminalOutput, KEYS, waitUntil } from "./testSupport.ts";
import { setTimeout as sleep } from "node:timers/promises";

const REQUEST = "A tiny shop: a product list and a cart";

/**
 * A fake agent: a real child process that reads the prompt on stdin and answers like an agent,
 * with prose around a fenced JSON PRD. Its overview is the request's line from the prompt, so the
 * test sees that the prompt arrived. `mode` picks the answer.
 */
const FAKE_AGENT = `
const mode = process.argv[2];
let prompt = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (prompt += chunk));
process.stdin.on("end", () => {
  const request = (prompt.split("## The request\\n\\n")[1] ?? "").split("\\n")[0];
  if (process.env.SMITH_TOKEN !== undefined) {
    console.error("the agent saw SMITH_TOKEN");
    process.exit(4);
  }
  if (mode === "fail") {
    console.error("model overloaded, try later");
    process.exit(3);
  }
  if (mode === "prose") {
    console.log("I looked around the repository.\\nI think you should start with a product list. Good luck!");
    return;
  }
  const prd = {
    project: "Tiny shop",
    overview: request,
    goals: ["Sell things"],
    qualityGates: ["npm test"],
    stories: [
      { id: "US-001", title: "Product list", status: "open", dependsOn: [], description: "As a shopper I see products.", acceptanceCriteria: ["GET /products returns 200"] },
      { id: "US-002", title: "Cart", status: "open", dependsOn: ["US-001"], description: "As a shopper I add to a cart.", acceptanceCriteria: mode === "invalid" ? [] : ["POST /cart returns 201"] },
    ],
  };
  const json = JSON.stringify(prd, null, 2);
  if (mode === "file") {
    require("node:fs").mkdirSync(".agents/tasks", { recursive: true });
    require("node:fs").writeFileSync(".agents/tasks/prd.json", json);
    console.log("I wrote the PRD to .agents/tasks/prd.json.");
    return;
  }
  console.log("I read the README and the package.json. Here's the PRD you asked for:\\n");
  console.log("\`\`\`json\\n" + json + "\\n\`\`\`\\n");
  console.log("I kept the stories small; tell me if you want \\"more\\" detail {or fewer stories}.");
});
`;

async function setUp(dir: string, mode: "good" | "prose" | "invalid" | "fail" | "file") {
  const script = join(dir, "fake-agent.cjs");
  await writeFile(script, FAKE_AGENT);
  const repo = join(dir, "repo");
  await mkdir(repo);
  const stdin = new FakeTerminalInput();
  const stdout = new FakeTerminalOutput();
  const stderr = new FakeTerminalOutput();
  const outPath = join(repo, ".agents", "tasks", "prd.json");
  const options: PrdGenerateOptions = {
    request: REQUEST,
    agent: "command",
    agentCommand: `${shellQuote(process.execPath)} ${shellQuote(script)} ${mode}`,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, SMITH_TOKEN: "must-not-leak" },
    outPath,
    markdown: false,
    cwd: repo,
    stdin,
    stdout,
    stderr,
    timeoutMs: 30_000,
  };
  /** Waits for the wizard to read keys, then presses them. */
  const inWizard = async (...keys: string[]) => {
    await waitUntil(() => stdin.listening, "the wizard to open");
    for (const key of keys) {
      stdin.write(key);
      await sleep(key === KEYS.escape ? 40 : 10);
    }
  };
  return { repo, outPath, options, stdin, stdout, stderr, inWizard };
}

describe("smith prd generate", () => {
  test("a command agent (prompt on stdin, sanitized env) prints fenced JSON; it opens in the wizard; enter accepts and writes it", async ({
    tmpDir,
  }) => {
    const t = await setUp(tmpDir, "good");
    const code = runPrdGenerate({ ...t.options, markdown: true });
    await t.inWizard(KEYS.enter);
    expect(await code).toBe(0);
    expect(t.stdout.text).toContain("The agent drafted 2 stories (readiness pass)");
    expect(t.stdout.text).toContain("Review");
    expect(t.stdout.text).toContain(`wrote ${t.outPath} and ${t.outPath.replace(/json$/, "md")}`);
    const written = await readFile(t.outPath, "utf8");
    const prd = parsePrd(written);
    expect(validatePrd(written).readiness).toBe("pass");
    expect(prd.overview).toBe(REQUEST);
    expect(prd.stories.map((s) => [s.id, s.dependsOn])).toEqual([
      ["US-001", []],
      ["US-002", ["US-001"]],
    ]);
    expect(prdFromMarkdown(await readFile(t.outPath.replace(/json$/, "md"), "utf8"))).toEqual(prd);
    expect(t.stderr.text).toBe("");
  });

  test("an agent that prints no JSON: a clear error, exit 1, nothing written", async ({ tmpDir }) => {
    const t = await setUp(tmpDir, "prose");
    expect(await runPrdGenerate(t.options)).toBe(1);
    expect(t.stderr.text).toContain("smith prd generate: no PRD JSON found in the agent's reply");
    expect(t.stderr.text).toContain("The agent's reply ended with:\n  I looked around the repository.");
    expect(t.stdin.listening).toBe(false);
    expect(existsSync(t.outPath)).toBe(false);
  });

  test("an agent that fails: its exit code and stderr, exit 1", async ({ tmpDir }) => {
    const t = await setUp(tmpDir, "fail");
    expect(await runPrdGenerate(t.options)).toBe(1);
    expect(t.stderr.text).toContain("smith prd generate: the agent exited with code 3:\n  model overloaded, try later");
    expect(existsSync(t.outPath)).toBe(false);
  });

  test("an invalid draft still opens in the wizard: enter is refused, the person fixes it, then it is written", async ({
    tmpDir,
  }) => {
    const t = await setUp(tmpDir, "invalid");
    const code = runPrdGenerate(t.options);
    await t.inWizard(KEYS.enter);
    expect(t.stdout.text).toContain("The agent drafted 2 stories (readiness fail, 1 to fix)");
    await t.inWizard(KEYS.ctrl("e"), "Cart has one item after POST /cart", KEYS.ctrl("r"), KEYS.enter);
    expect(await code).toBe(0);
    const prd = parsePrd(await readFile(t.outPath, "utf8"));
    expect(prd.stories[1]?.acceptanceCriteria).toEqual(["Cart has one item after POST /cart"]);
    expect(validatePrd(prd).readiness).toBe("pass");
  });

  test("quitting the wizard writes nothing and exits 130", async ({ tmpDir }) => {
    const t = await setUp(tmpDir, "invalid");
    const code = runPrdGenerate(t.options);
    await t.inWizard(KEYS.ctrl("c"));
    expect(await code).toBe(130);
    expect(t.stderr.text).toContain("quit; nothing written");
    expect(existsSync(t.outPath)).toBe(false);
  });

  test("an agent that writes .agents/tasks/prd.json: the draft is read from it and the file put back until accepted", async ({
    tmpDir,
  }) => {
    const t = await setUp(tmpDir, "file");
    const code = runPrdGenerate(t.options);
    await waitUntil(() => t.stdin.listening, "the wizard to open");
    expect(existsSync(t.outPath)).toBe(false);
    expect(t.stdout.text).toContain("that file was put back as it was");
    await t.inWizard(KEYS.enter);
    expect(await code).toBe(0);
    expect(parsePrd(await readFile(t.outPath, "utf8")).project).toBe("Tiny shop");
  });

  test("bad options exit 2 before any agent runs", async ({ tmpDir }) => {
    const t = await setUp(tmpDir, "good");
    const { agentCommand: _, ...noCommand } = t.options;
    expect(await runPrdGenerate(noCommand)).toBe(2);
    expect(t.stderr.text).toContain("--agent command needs --agent-command CMD");
    expect(await runPrdGenerate({ ...t.options, request: "  " })).toBe(2);
  });
});
