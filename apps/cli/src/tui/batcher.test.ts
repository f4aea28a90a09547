import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { Batcher } from "./batcher.ts";

const sum = (state: number[], actions: readonly number[]): number[] => [...state, ...actions];

describe("Batcher: state updates batched by time", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test("the first action after a quiet spell is published at once; a burst is coalesced into one publish per interval", () => {
    const b = new Batcher<number[], number>({ initial: [], reduce: sum, intervalMs: 100 });
    const seen: number[][] = [];
    b.subscribe(() => seen.push(b.getState()));
    b.enqueue(1);
    vi.advanceTimersByTime(0);
    expect(seen).toEqual([[1]]);
    // 1,000 actions within one second…
    for (let i = 2; i <= 1001; i++) {
      b.enqueue(i);
      vi.advanceTimersByTime(1);
    }
    vi.advanceTimersByTime(100);
    // …cost about ten publishes, and none is lost.
    expect(b.publishes).toBeLessThanOrEqual(12);
    expect(b.getState()).toHaveLength(1001);
    expect(b.getState().at(-1)).toBe(1001);
  });

  test("getState is stable between publishes (useSyncExternalStore needs that)", () => {
    const b = new Batcher<number[], number>({ initial: [], reduce: sum, intervalMs: 100 });
    b.enqueue(1);
    vi.advanceTimersByTime(0);
    const s = b.getState();
    b.enqueue(2);
    expect(b.getState()).toBe(s);
    vi.advanceTimersByTime(100);
    expect(b.getState()).not.toBe(s);
  });

  test("the queue is folded into the state once it reaches maxQueued, before anything is published", () => {
    const reduce = vi.fn(sum);
    const b = new Batcher<number[], number>({ initial: [], reduce, intervalMs: 100, maxQueued: 10 });
    b.enqueue(0);
    vi.advanceTimersByTime(0);
    for (let i = 1; i <= 35; i++) b.enqueue(i);
    expect(reduce).toHaveBeenCalledTimes(4);
    expect(b.publishes).toBe(1);
    vi.advanceTimersByTime(100);
    expect(b.getState()).toHaveLength(36);
    expect(b.publishes).toBe(2);
  });

  test("dispatchNow applies what was queued, then its actions, and publishes synchronously", () => {
    const b = new Batcher<number[], number>({ initial: [], reduce: sum, intervalMs: 100 });
    b.enqueue(1);
    vi.advanceTimersByTime(0);
    b.enqueue(2);
    b.dispatchNow([3]);
    expect(b.getState()).toEqual([1, 2, 3]);
    vi.advanceTimersByTime(500);
    expect(b.publishes).toBe(2);
  });

  test("after close nothing is applied or published", () => {
    const b = new Batcher<number[], number>({ initial: [], reduce: sum });
    const listener = vi.fn();
    b.subscribe(listener);
    b.enqueue(1);
    b.close();
    b.enqueue(2);
    b.dispatchNow([3]);
    vi.advanceTimersByTime(1000);
    expect(listener).not.toHaveBeenCalled();
    expect(b.getState()).toEqual([]);
  });
});
