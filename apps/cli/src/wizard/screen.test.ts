import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parsePrd, prdFromMarkdown, prdToMarkdown, validatePrd } from "@smith/core";
import { tmpDirTest as test } from "@smith/testing";
import { render } from "ink-testing-library";
import type React from "react";
import { afterEach, describe, expect } from "vitest";
import { html } from "../tui/html.ts";
import { markdownPathFor, writePrdFiles } from "./prdNew.ts";
import { PrdWizard, type WizardResult } from "./screen.ts";
import { KEYS, waitUntil } from "./testSupport.ts";
import { setTimeout as sleep } from "node:timers/promises";

let unmount: (() => void) | undefined;
afterEach(() => unmount?.());

/** Renders the wizard and returns a driver that types keys and reads the screen. */
function wizard(props: Partial<React.ComponentProps<typeof PrdWizard>> = {}) {
  let result: WizardResult | undefined;
  const onDone = (r: WizardResult) => (result = r);
  const app = render(html`<${PrdWizard} outPath=".agents/tasks/prd.json" ...${props} onDone=${onDone} />`);
  unmount = app.unmount;
  const screen = () => app.lastFrame() ?? "";
  return {
    screen,
    result: () => result,
    /** Writes one key (or a chunk of text) and waits for the screen to settle. */
    async press(...keys: string[]) {
      for (const key of keys) {
        app.stdin.write(key);
        // A lone ESC is only a key once no sequence follows it (Ink waits 20 ms).
        await sleep(key === KEYS.escape ? 40 : 5);
      }
    },
  };
}

describe("PRD wizard screen", () => {
  test("create a 2-story PRD with a dependency and gates; an empty criterion shows its error; fix, finish, write", async ({
    tmpDir,
  }) => {
    const w = wizard({ markdownPath: "prd.md" });
    await waitUntil(() => w.screen().includes("Project"), "the first screen");
    expect(w.screen()).toContain("▸1 Project");
    expect(w.screen()).toContain("readiness FAIL");
    expect(w.screen()).toContain("project is missing or blank");
    expect(w.screen()).toContain("enter next field · tab/shift+tab ↑/↓ move between fields · esc back a step");

    await w.press("Shop", KEYS.enter, "A small web shop", KEYS.enter);
    expect(w.screen()).toContain("▸2 Goals");
    expect(w.screen()).not.toContain("project is missing");
    await w.press("Sell online", KEYS.ctrl("a"), "Ship in a week", KEYS.tab, "Payments", KEYS.enter);
    expect(w.screen()).toContain("▸3 Quality gates");
    expect(w.screen()).toContain("no quality gates");
    await w.press("npm test", KEYS.ctrl("a"), "npm run lint", KEYS.enter);

    // Stories: US-001 is created; its criteria are empty, and the error says so next to them.
    expect(w.screen()).toContain("▸4 Stories");
    expect(w.screen()).toContain("US-001 · story 1 of 1 · open");
    await w.press("Catalogue", KEYS.enter, "As a shopper I want to see products", KEYS.enter);
    const empty = w.screen();
    expect(empty).toMatch(/1\.\s+▌/);
    expect(empty).toContain("✖ story US-001 has no acceptance criteria");
    expect(empty).toContain("→ Add checkable criteria");
    expect(empty).toContain("readiness FAIL");

    // The review refuses to finish, and says why.
    await w.press(KEYS.ctrl("r"), KEYS.enter);
    expect(w.screen()).toContain("Stories › US-001 › acceptance criteria");
    expect(w.screen()).toContain("Can't write the PRD yet: 1 error");
    expect(w.result()).toBeUndefined();

    // ctrl+e goes back to the field; typing fixes it.
    await w.press(KEYS.ctrl("e"), "GET /products returns 200");
    expect(w.screen()).toContain("▸4 Stories");
    expect(w.screen()).not.toContain("has no acceptance criteria");
    expect(w.screen()).toContain("readiness PASS");

    // A second story that depends on the first.
    await w.press(
      KEYS.ctrl("n"),
      "Cart",
      KEYS.enter,
      "As a shopper I want a cart",
      KEYS.enter,
      "POST /cart returns 201",
      KEYS.enter,
    );
    expect(w.screen()).toContain("US-002 · story 2 of 2");
    expect(w.screen()).toContain("[ ] US-001");
    await w.press(" ");
    expect(w.screen()).toContain("[x] US-001");

    await w.press(KEYS.enter);
    const review = w.screen();
    expect(review).toContain("▸5 Review");
    expect(review).toContain("US-002  Cart  · 1 criterion ← US-001");
    expect(review).toContain("Quality gates: npm test && npm run lint");
    expect(review).toContain("No problems found.");
    expect(review).toContain("enter writes .agents/tasks/prd.json and prd.md");
    await w.press(KEYS.enter);
    await waitUntil(() => w.result() !== undefined, "the wizard to finish");

    const result = w.result();
    if (result?.outcome !== "finished") throw new Error(`wizard ended ${JSON.stringify(result)}`);
    const outPath = join(tmpDir, ".agents", "tasks", "prd.json");
    await writePrdFiles(result.prd, { outPath, markdownPath: markdownPathFor(outPath) });

    const written = await readFile(outPath, "utf8");
    const prd = parsePrd(written);
    expect(validatePrd(written)).toMatchObject({ readiness: "pass", errors: [], warnings: [] });
    expect(JSON.parse(written)).toEqual({
      project: "Shop",
      overview: "A small web shop",
      goals: ["Sell online", "Ship in a week"],
      nonGoals: ["Payments"],
      qualityGates: ["npm test", "npm run lint"],
      stories: [
        {
          id: "US-001",
          title: "Catalogue",
          status: "open",
          dependsOn: [],
          description: "As a shopper I want to see products",
          acceptanceCriteria: ["GET /products returns 200"],
        },
        {
          id: "US-002",
          title: "Cart",
          status: "open",
          dependsOn: ["US-001"],
          description: "As a shopper I want a cart",
          acceptanceCriteria: ["POST /cart returns 201"],
        },
      ],
    });
    const markdown = await readFile(join(tmpDir, ".agents", "tasks", "prd.md"), "utf8");
    expect(markdown).toBe(prdToMarkdown(prd));
    expect(prdFromMarkdown(markdown)).toEqual(prd);
  });

  test("esc goes back a step; ctrl+c quits without a PRD", async () => {
    const w = wizard();
    await waitUntil(() => w.screen().includes("Project"), "the first screen");
    await w.press("P", KEYS.enter, KEYS.enter);
    expect(w.screen()).toContain("▸2 Goals");
    await w.press(KEYS.escape);
    expect(w.screen()).toContain("▸1 Project");
    expect(w.screen()).toMatch(/› Project\s+P▌/);
    await w.press(KEYS.ctrl("c"));
    await waitUntil(() => w.result() !== undefined, "the wizard to quit");
    expect(w.result()).toEqual({ outcome: "cancelled" });
  });

  test("an initial PRD opens on the review with its problems listed", async () => {
    const initial = parsePrd(
      JSON.stringify({ project: "P", stories: [{ id: "US-001", title: "a", acceptanceCriteria: [] }] }),
    );
    const w = wizard({ initial, overwrites: true });
    await waitUntil(() => w.screen().includes("Review"), "the review");
    const screen = w.screen();
    expect(screen).toContain("▸5 Review");
    expect(screen).toContain("✖ Stories › US-001 › acceptance criteria: story US-001 has no acceptance criteria");
    expect(screen).toContain("⚠ Quality gates: no quality gates");
    expect(screen).toContain("Fix the errors above before the PRD can be written.");
    expect(screen).toContain(".agents/tasks/prd.json exists and will be replaced.");
    expect(screen).toContain("4 Stories ✖1");
  });
});
