import { describe, expect, it } from "vitest";
import { ID_PATTERN, isId, newId } from "./ids.ts";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/** The millisecond timestamp in an id's first 10 characters. */
function timeOf(id: string): number {
  let t = 0;
  for (const c of id.slice(0, 10)) t = t * 32 + ALPHABET.indexOf(c);
  return t;
}

// newId keeps per-process state (the last timestamp), so the tests that pass `now` use times
// well after anything Date.now() gave earlier in this file.
const FUTURE = Date.now() + 365 * 24 * 3600 * 1000;

describe("newId", () => {
  it("is 26 lower-case Crockford base32 characters", () => {
    for (let i = 0; i < 100; i++) {
      const id = newId();
      expect(id).toHaveLength(26);
      expect(id).toMatch(ID_PATTERN);
      expect(id).toBe(id.toLowerCase());
      expect(isId(id)).toBe(true);
    }
  });

  it("has no ambiguous letters (i, l, o, u) and no upper case", () => {
    expect(ID_PATTERN.test("01jb8z6m3k9w4x7q2r5t8v1c0d")).toBe(true);
    for (const bad of [
      "01jb8z6m3k9w4x7q2r5t8v1c0i",
      "01jb8z6m3k9w4x7q2r5t8v1c0l",
      "01jb8z6m3k9w4x7q2r5t8v1c0o",
      "01jb8z6m3k9w4x7q2r5t8v1c0u",
      "01JB8Z6M3K9W4X7Q2R5T8V1C0D",
    ]) {
      expect(isId(bad), bad).toBe(false);
    }
    expect(isId("01jb8z6m3k9w4x7q2r5t8v1c0")).toBe(false);
    expect(isId("01jb8z6m3k9w4x7q2r5t8v1c0dd")).toBe(false);
  });

  it("the alphabet is in ascending character order, so string order is numeric order", () => {
    expect([...ALPHABET].sort().join("")).toBe(ALPHABET);
  });

  it("10,000 ids made in a tight loop are unique and strictly increasing (monotonic within a millisecond)", () => {
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(newId());
    expect(new Set(ids).size).toBe(ids.length);
    let sameMillisecond = 0;
    for (let i = 1; i < ids.length; i++) {
      const prev = ids[i - 1] ?? "";
      const id = ids[i] ?? "";
      if (!(prev < id)) throw new Error(`id ${i} is not after id ${i - 1}: ${prev} then ${id}`);
      if (timeOf(prev) === timeOf(id)) sameMillisecond++;
    }
    // The loop is fast enough that many ids share a millisecond: that is the case under test.
    expect(sameMillisecond).toBeGreaterThan(1000);
  });

  it("within one millisecond, ids differ only in the random part and count up by one", () => {
    const now = FUTURE;
    const a = newId(now);
    const b = newId(now);
    expect(timeOf(a)).toBe(now);
    expect(timeOf(b)).toBe(now);
    expect(b.slice(0, 10)).toBe(a.slice(0, 10));
    expect(b > a).toBe(true);
  });

  it("encodes `now` in the first 10 characters and orders ids by time across milliseconds", () => {
    const times = [FUTURE + 1, FUTURE + 2, FUTURE + 1000, FUTURE + 60_000, FUTURE + 86_400_000];
    const ids = times.map((t) => newId(t));
    ids.forEach((id, i) => expect(timeOf(id)).toBe(times[i]));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids.map((id) => id.slice(0, 10))).size).toBe(times.length);
  });

  it("stays increasing when the clock goes backwards", () => {
    const later = newId(FUTURE + 100_000_000);
    const earlier = newId(FUTURE + 50_000_000);
    expect(earlier > later).toBe(true);
    expect(timeOf(earlier)).toBe(FUTURE + 100_000_000);
  });

  // Last on purpose: after it, every id in this file would carry this timestamp.
  it("encodes the largest 48-bit timestamp within 10 characters", () => {
    const max = 2 ** 48 - 1;
    const id = newId(max);
    expect(id).toMatch(ID_PATTERN);
    expect(timeOf(id)).toBe(max);
  });
});
