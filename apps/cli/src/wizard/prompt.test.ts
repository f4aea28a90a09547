import { validatePrd } from "@smith/core";
import { describe, expect, test } from "vitest";
import { extractPrdJson } from "./extract.ts";
import { EXAMPLE_PRD, REPLY_BUDGET_KIB, buildPrdPrompt } from "./prompt.ts";

describe("buildPrdPrompt", () => {
  test("holds the request and an example PRD that validates pass", () => {
    const prompt = buildPrdPrompt("  CSV export for invoices \n");
    expect(prompt).toContain("## The request\n\nCSV export for invoices\n");
    expect(prompt).toContain('"status": always "open"');
    const example = extractPrdJson(prompt);
    expect(example).toEqual(EXAMPLE_PRD);
    expect(validatePrd(example).readiness).toBe("pass");
  });

  test("asks for a reply that fits what @smith/agents keeps of the final message", () => {
    expect(REPLY_BUDGET_KIB).toBe(12);
    expect(buildPrdPrompt("x")).toContain("Keep the JSON under 12 KB.");
  });
});
