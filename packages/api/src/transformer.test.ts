import superjson from "superjson";
import { describe, expect, test } from "vitest";
import { plainJson, transformer } from "./transformer.ts";

/** What a superjson client makes of an answer, after the wire's JSON. */
function roundTrip(value: unknown): unknown {
  const wire = JSON.stringify(transformer.output.serialize(value));
  return superjson.deserialize(JSON.parse(wire) as Parameters<typeof superjson.deserialize>[0]);
}

describe("API transformer", () => {
  const entry = () => ({
    seq: 7,
    id: "e-7",
    message: "npm test",
    exitCode: 0,
    ok: true,
    parent: null,
    actor: { type: "agent", id: "a" },
    metadata: { files: ["a.ts", "b.ts"] },
  });

  test("a marked plain-JSON answer skips superjson's walk and reads back the same", () => {
    const batch = plainJson({ entries: [entry(), entry()] });
    expect(transformer.output.serialize(batch)).toEqual({ json: batch });
    expect(roundTrip(batch)).toEqual(batch);
  });

  test("anything superjson would encode goes through superjson, marked or not", () => {
    const cases: Record<string, unknown>[] = [
      { at: new Date(0) },
      { gone: undefined },
      { n: Number.NaN },
      { n: -0 },
      { big: 1n },
      { set: new Set([1]) },
      { nested: [{ at: new Date(0) }] },
    ];
    for (const value of cases) {
      const marked = plainJson({ ...value });
      expect(transformer.output.serialize(marked)).toEqual(superjson.serialize(marked));
      expect(roundTrip(marked)).toEqual(marked);
    }
  });

  test("unmarked answers are superjson's", () => {
    const value = { entries: [entry()] };
    expect(transformer.output.serialize(value)).toEqual(superjson.serialize(value));
    expect(transformer.input.deserialize(superjson.serialize({ at: new Date(5) }))).toEqual({ at: new Date(5) });
  });
});
