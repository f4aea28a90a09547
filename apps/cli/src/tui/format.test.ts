import { describe, expect, test } from "vitest";
import {
  fit,
  fitStart,
  formatAge,
  formatCost,
  journalLine,
  loopName,
  progressBar,
  repoName,
  shortId,
} from "./format.ts";
import { makeEntries, makeLoop } from "./testSupport.ts";

describe("format", () => {
  test("shortId keeps the end of a ULID, where loops created together differ", () => {
    expect(shortId("01m7xsfsa5mwczyv4tg1eve02t")).toBe("g1eve02t");
  });

  test.each([
    [0, 0, "░░░░░ -"],
    [0, 3, "░░░░░ 0/3"],
    [1, 3, "██░░░ 1/3"],
    [3, 3, "█████ 3/3"],
    [5, 3, "█████ 5/3"],
  ])("progressBar(%i, %i)", (done, total, bar) => {
    expect(progressBar(done, total, 5)).toBe(bar);
  });

  test.each([
    [0, "0s"],
    [59_999, "59s"],
    [60_000, "1m"],
    [3_600_000, "1h"],
    [47 * 3_600_000, "47h"],
    [3 * 86_400_000, "3d"],
    [-5, "0s"],
  ])("formatAge(%i) = %s", (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });

  test("cost, names and fitting to a column", () => {
    expect(formatCost(0)).toBe("$0.00");
    expect(formatCost(12.345)).toBe("$12.35");
    expect(formatCost(12345.6)).toBe("$12346");
    expect(repoName("https://github.com/acme/app.git/")).toBe("github.com/acme/app");
    expect(loopName(makeLoop({ repo: "git@github.com:acme/app.git" }))).toBe("git@github.com:acme/app");
    expect(loopName(makeLoop({ title: "calc" }))).toBe("calc");
    expect(fit("abc", 5)).toBe("abc  ");
    expect(fit("abcdef", 4)).toBe("abc…");
    expect(fit("abc", 0)).toBe("");
    expect(fitStart("github.com/acme/app", 9)).toBe("…acme/app");
    expect(fitStart("app", 5)).toBe("app  ");
  });

  test("a journal line: seq, time, phase, the first line of the message", () => {
    const [entry] = makeEntries(makeLoop().id, 7, 7, { message: "first\nsecond" });
    expect(entry && journalLine(entry)).toMatch(/^ {5}7 \d\d:\d\d:\d\d agent {5}first ↵$/);
  });
});
