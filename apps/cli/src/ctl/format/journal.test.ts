import { describe, expect, it } from "vitest";
import { journalLine } from "./journal.ts";

const entry = {
  seq: 12,
  ts: "2025-01-01T12:00:00.000Z",
  phase: "gate" as const,
  level: "warn" as const,
  message: "npm test failed",
};

describe("journalLine", () => {
  it("seq, time, phase, level, message in fixed-width columns", () => {
    expect(journalLine(entry)).toBe("   12 2025-01-01T12:00:00.000Z gate      warn  npm test failed");
    expect(journalLine({ ...entry, seq: 3, phase: "lifecycle", level: "info" }).indexOf("info")).toBe(
      journalLine(entry).indexOf("warn"),
    );
  });

  it("keeps one entry on one line and adds a command's exit code and duration", () => {
    expect(journalLine({ ...entry, message: "line 1\nline 2\r\nline 3", exitCode: 1, durationMs: 2300 })).toBe(
      "   12 2025-01-01T12:00:00.000Z gate      warn  line 1\\nline 2\\nline 3 (exit 1, 2300 ms)",
    );
  });
});
