import type { AuditEvent } from "@smith/core";
import { describe, expect, it } from "vitest";
import { auditTable } from "./audit.ts";
import { SAMPLE_ID } from "./testSupport.ts";

const cells = (table: string, line: number) => table.split("\n")[line]?.split(/\s{3,}/);

describe("audit table", () => {
  it("one row per event with the actor, the outcome and the error or reason", () => {
    const base: AuditEvent = {
      schemaVersion: 1,
      id: "a1",
      at: "2025-01-01T12:00:00.000Z",
      actor: { type: "operator", id: "op", role: "operator" },
      action: "loops.cancel",
      loopId: SAMPLE_ID,
      reason: "superseded",
      outcome: "ok",
      correlationId: "c",
      details: {},
    };
    const table = auditTable([
      base,
      { ...base, id: "a2", outcome: "error", error: "invalid_transition" },
      {
        ...base,
        id: "a3",
        loopId: undefined,
        reason: undefined,
        actor: { type: "api", id: "anonymous" },
        outcome: "denied",
        error: "UNAUTHORIZED",
      },
    ]);
    expect(cells(table, 0)).toEqual(["TIME", "ACTOR", "ACTION", "LOOP", "OUTCOME", "DETAIL"]);
    expect(cells(table, 1)).toEqual([
      "2025-01-01T12:00:00.000Z",
      "operator/op (operator)",
      "loops.cancel",
      SAMPLE_ID,
      "ok",
      "superseded",
    ]);
    expect(cells(table, 2)?.at(-1)).toBe("invalid_transition: superseded");
    expect(cells(table, 3)).toEqual([
      "2025-01-01T12:00:00.000Z",
      "api/anonymous",
      "loops.cancel",
      "-",
      "denied",
      "UNAUTHORIZED",
    ]);
  });
});
