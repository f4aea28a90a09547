import superjson from "superjson";
import { describe, expect, test } from "vitest";
import { transformer } from "./transformer.ts";

/** What the server's superjson makes of an input this client sends, after the wire's JSON. */
const sent = (value: unknown): unknown =>
  superjson.deserialize(
    JSON.parse(JSON.stringify(transformer.serialize(value))) as Parameters<typeof superjson.deserialize>[0],
  );

describe("client transformer", () => {
  test("a plain-JSON input goes as superjson's own form for it, without the walk", () => {
    const input = {
      loopId: "l1",
      entries: [{ phase: "agent", message: "npm test", exitCode: 0, ok: true, parent: null, metadata: { a: [1, 2] } }],
    };
    expect(transformer.serialize(input)).toEqual({ json: input });
    expect(sent(input)).toEqual(input);
  });

  test("an input with anything superjson encodes is superjson's, and reads back the same", () => {
    for (const input of [
      { at: new Date(0) },
      { gone: undefined, kept: 1 },
      { n: Number.NaN },
      { n: -0 },
      { nested: [{ set: new Set([1]) }] },
    ]) {
      expect(transformer.serialize(input)).toEqual(superjson.serialize(input));
      expect(sent(input)).toEqual(input);
    }
  });

  test("answers decode in place, Dates and all", () => {
    const wire = JSON.parse(JSON.stringify(superjson.serialize({ at: new Date(5), items: [{ a: 1 }] })));
    expect(transformer.deserialize(wire)).toEqual({ at: new Date(5), items: [{ a: 1 }] });
  });
});
