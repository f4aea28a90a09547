import { describe, expect, it } from "vitest";
import { batchReady } from "./batch.ts";

async function* source(groups: number[][], gapMs: number): AsyncGenerator<number> {
  for (const g of groups) {
    for (const n of g) yield n;
    await new Promise((r) => setTimeout(r, gapMs));
  }
}

describe("batchReady", () => {
  it("groups what is ready, never waits for more, keeps order, and respects maxItems", async () => {
    const out: number[][] = [];
    for await (const b of batchReady(source([[1, 2, 3], [4], [5, 6, 7, 8, 9]], 20), 4)) out.push(b);
    expect(out.flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(out).toEqual([[1, 2, 3], [4], [5, 6, 7, 8], [9]]);
  });

  it("ends with the source and closes it when the consumer stops", async () => {
    let closed = false;
    async function* infinite(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) {
          yield i;
          await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        closed = true;
      }
    }
    for await (const b of batchReady(infinite(), 10)) if (b.includes(3)) break;
    expect(closed).toBe(true);
  });
});
