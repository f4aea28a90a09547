import { describe, expect, test } from "vitest";
import {
  appendEntries,
  emptyJournal,
  journalWindow,
  matchCount,
  nextMatch,
  scrollJournal,
  searchJournal,
  setFollow,
} from "./journalView.ts";
import { makeEntries } from "./testSupport.ts";

const LOOP = "01m7xsfsa5mwczyv4tg1eve02t";
const seqs = (entries: readonly { seq: number }[]) => entries.map((e) => e.seq);

describe("journal ring buffer", () => {
  test("keeps at most `limit` entries, dropping the oldest, and counts what it dropped", () => {
    let view = emptyJournal(LOOP, 5);
    view = appendEntries(view, makeEntries(LOOP, 1, 3));
    expect(seqs(view.entries)).toEqual([1, 2, 3]);
    view = appendEntries(view, makeEntries(LOOP, 4, 8));
    expect(seqs(view.entries)).toEqual([4, 5, 6, 7, 8]);
    expect(view.dropped).toBe(3);
    // A batch larger than the buffer keeps only its newest entries.
    view = appendEntries(view, makeEntries(LOOP, 9, 1000));
    expect(seqs(view.entries)).toEqual([996, 997, 998, 999, 1000]);
    expect(view.dropped).toBe(995);
  });

  test("an entry seen already, or of another loop, is not shown twice", () => {
    let view = appendEntries(emptyJournal(LOOP, 10), makeEntries(LOOP, 1, 3));
    const same = appendEntries(view, makeEntries(LOOP, 2, 3));
    expect(same).toBe(view);
    view = appendEntries(view, [...makeEntries(LOOP, 3, 4), ...makeEntries("01m7xsfsa5mwczyv4tg1eve02v", 9, 9)]);
    expect(seqs(view.entries)).toEqual([1, 2, 3, 4]);
  });

  test("following shows the newest lines; scrolling up stops following and stays put while lines arrive", () => {
    let view = appendEntries(emptyJournal(LOOP, 100), makeEntries(LOOP, 1, 20));
    expect(seqs(journalWindow(view, 5).lines)).toEqual([16, 17, 18, 19, 20]);
    view = scrollJournal(view, -3, 5);
    expect(view.follow).toBe(false);
    expect(seqs(journalWindow(view, 5).lines)).toEqual([13, 14, 15, 16, 17]);
    view = appendEntries(view, makeEntries(LOOP, 21, 30));
    expect(journalWindow(view, 5)).toMatchObject({ above: 12, below: 13 });
    expect(seqs(journalWindow(view, 5).lines)).toEqual([13, 14, 15, 16, 17]);
    // Not past the first line, nor past the last.
    expect(seqs(journalWindow(scrollJournal(view, -1000, 5), 5).lines)).toEqual([1, 2, 3, 4, 5]);
    expect(seqs(journalWindow(scrollJournal(view, 1000, 5), 5).lines)).toEqual([26, 27, 28, 29, 30]);
    // Following again jumps to the newest line.
    view = setFollow(view, true);
    expect(seqs(journalWindow(view, 5).lines)).toEqual([26, 27, 28, 29, 30]);
    // Turning follow off freezes the view at the newest line.
    view = appendEntries(setFollow(view, false), makeEntries(LOOP, 31, 32));
    expect(seqs(journalWindow(view, 5).lines)).toEqual([26, 27, 28, 29, 30]);
  });

  test("a scrolled view whose bottom line is dropped sticks to the oldest line kept", () => {
    let view = appendEntries(emptyJournal(LOOP, 10), makeEntries(LOOP, 1, 10));
    view = scrollJournal(view, -5, 3);
    expect(view.anchorSeq).toBe(5);
    view = appendEntries(view, makeEntries(LOOP, 11, 18));
    expect(view.anchorSeq).toBe(9);
    expect(seqs(journalWindow(view, 3).lines)).toEqual([9, 10, 11]);
  });

  test("an empty journal has an empty window", () => {
    expect(journalWindow(emptyJournal(LOOP), 10)).toEqual({ lines: [], above: 0, below: 0 });
    expect(scrollJournal(emptyJournal(LOOP), -1, 10).follow).toBe(false);
  });
});

describe("journal search", () => {
  const view = appendEntries(
    emptyJournal(LOOP),
    makeEntries(LOOP, 1, 10).map((e) => (e.seq % 4 === 0 ? { ...e, message: `the NEEDLE ${e.seq}` } : e)),
  );

  test("jumps to the newest match, then n/N walk older/newer matches and stop at the ends", () => {
    const found = searchJournal(view, "needle");
    expect(found.found).toBe(true);
    expect(found.view).toMatchObject({ search: "needle", matchSeq: 8, anchorSeq: 8, follow: false });
    expect(matchCount(found.view)).toBe(2);
    const older = nextMatch(found.view, "older");
    expect(older.view.matchSeq).toBe(4);
    expect(nextMatch(older.view, "older")).toEqual({ view: older.view, found: false });
    expect(nextMatch(older.view, "newer").view.matchSeq).toBe(8);
    expect(nextMatch(found.view, "newer").found).toBe(false);
  });

  test("no match leaves the view where it was; an empty search clears it", () => {
    const none = searchJournal(view, "absent");
    expect(none.found).toBe(false);
    expect(none.view).toMatchObject({ follow: true, search: "absent", matchSeq: undefined });
    const cleared = searchJournal(searchJournal(view, "needle").view, "");
    expect(cleared.view.search).toBeUndefined();
    expect(cleared.view.matchSeq).toBeUndefined();
  });
});
