import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { parsePrd, validatePrd } from "@smith/core";
import { tmpDirTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { markdownPathFor, runPrdNew } from "./prdNew.ts";
import { FakeTerminalInput, FakeTerminalOutput, KEYS, waitUntil } from "./testSupport.ts";
import { setTimeout as sleep } from "node:timers/promises";

describe("runPrdNew", () => {
  test("types a one-story PRD in a (fake) terminal and writes it", async ({ tmpDir }) => {
    const stdin = new FakeTerminalInput();
    const stdout = new FakeTerminalOutput();
    const outPath = join(tmpDir, "deep", "prd.json");
    const code = runPrdNew({ outPath, markdown: false, stdin, stdout, stderr: stdout });
    await waitUntil(() => stdin.listening, "the wizard to open");
    expect(stdin.rawMode).toBe(true);
    const keys = [
      "Shop",
      KEYS.enter,
      KEYS.enter,
      KEYS.enter,
      KEYS.enter,
      "make test",
      KEYS.enter,
      "List",
      KEYS.enter,
      KEYS.enter,
      "Lists",
      KEYS.enter,
      KEYS.enter,
    ];
    for (const key of keys) {
      stdin.write(key);
      await sleep(10);
    }
    expect(await code).toBe(0);
    expect(stdin.rawMode).toBe(false);
    expect(stdout.text).toContain(`wrote ${outPath} (1 story, readiness pass)`);
    const prd = parsePrd(await readFile(outPath, "utf8"));
    expect(validatePrd(prd).readiness).toBe("pass");
    expect(prd.stories[0]).toMatchObject({ id: "US-001", title: "List", acceptanceCriteria: ["Lists"] });
    expect(existsSync(markdownPathFor(outPath))).toBe(false);
  });

  test("without a terminal: exit 2 and why", async ({ tmpDir }) => {
    const stderr = new FakeTerminalOutput();
    const code = await runPrdNew({
      outPath: join(tmpDir, "prd.json"),
      markdown: false,
      stdin: new PassThrough(),
      stdout: stderr,
      stderr,
    });
    expect(code).toBe(2);
    expect(stderr.text).toContain("needs an interactive terminal");
  });

  test("markdownPathFor", () => {
    expect(markdownPathFor(".agents/tasks/prd.json")).toBe(".agents/tasks/prd.md");
    expect(markdownPathFor("PRD.JSON")).toBe("PRD.md");
    expect(markdownPathFor("plan")).toBe("plan.md");
  });
});
