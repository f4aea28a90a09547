import { describe, expect, test } from "vitest";
import {
  countsByState,
  initialState,
  reduce,
  reduceAll,
  selectedLoop,
  selectedRow,
  tableHeight,
  targetLoopId,
  visibleLoops,
  type Action,
  type TuiState,
} from "./state.ts";
import { makeEntries, makeLoop } from "./testSupport.ts";

const T = Date.parse("2026-01-02T03:04:05.000Z");

function withLoops(n: number, rows = 24): TuiState {
  const puts: Action[] = Array.from({ length: n }, (_, i) => ({
    type: "watch",
    event: { type: "put", loop: makeLoop({ createdAt: T + i * 1000, title: `loop ${i}` }) },
  }));
  return reduceAll(initialState({ now: T, rows, columns: 100 }), puts);
}

const titles = (s: TuiState) => visibleLoops(s).map((l) => l.spec.title);

describe("state: watch events", () => {
  test("puts add and replace loops, deletes remove them; rows are newest first", () => {
    const a = makeLoop({ createdAt: T, title: "a" });
    const b = makeLoop({ createdAt: T + 1, title: "b" });
    let s = reduceAll(initialState({ now: T }), [
      { type: "watch", event: { type: "put", loop: a } },
      { type: "watch", event: { type: "put", loop: b } },
    ]);
    expect(s.loaded).toBe(true);
    expect(titles(s)).toEqual(["b", "a"]);
    s = reduce(s, { type: "watch", event: { type: "put", loop: { ...a, status: { ...a.status, state: "running" } } } });
    expect(s.loops.get(a.id)?.status.state).toBe("running");
    s = reduce(s, { type: "watch", event: { type: "delete", id: b.id } });
    expect(titles(s)).toEqual(["a"]);
  });

  test("a batch of puts copies the loop map once, not once per loop", () => {
    const s0 = initialState({ now: T });
    const s = reduceAll(
      s0,
      Array.from({ length: 3 }, () => ({ type: "watch", event: { type: "put", loop: makeLoop() } }) as const),
    );
    expect(s.loops.size).toBe(3);
    expect(s0.loops.size).toBe(0);
  });

  test("counts per state cover all loops, whatever the filter", () => {
    let s = reduceAll(initialState({ now: T }), [
      { type: "watch", event: { type: "put", loop: makeLoop({ state: "running" }) } },
      { type: "watch", event: { type: "put", loop: makeLoop({ state: "running" }) } },
      { type: "watch", event: { type: "put", loop: makeLoop({ state: "flatline" }) } },
    ]);
    s = reduce(s, { type: "setFilter", value: "flatline" });
    expect(visibleLoops(s)).toHaveLength(1);
    expect(countsByState(s.loops)).toEqual({
      unresolved: 0,
      running: 2,
      waiting: 0,
      synced: 0,
      flatline: 1,
      cancelled: 0,
    });
  });
});

describe("state: selection", () => {
  test("moves within the rows and stays on its loop when newer loops arrive above it", () => {
    let s = withLoops(5);
    expect(selectedLoop(s)?.spec.title).toBe("loop 4");
    s = reduce(s, { type: "move", delta: 2 });
    expect(selectedLoop(s)?.spec.title).toBe("loop 2");
    s = reduce(s, { type: "move", delta: 10 });
    expect(selectedLoop(s)?.spec.title).toBe("loop 0");
    s = reduce(s, { type: "move", delta: -1 });
    expect(selectedLoop(s)?.spec.title).toBe("loop 1");
    s = reduce(s, {
      type: "watch",
      event: { type: "put", loop: makeLoop({ createdAt: T + 99_000, title: "newest" }) },
    });
    expect(selectedLoop(s)?.spec.title).toBe("loop 1");
    expect(selectedRow(s)).toBe(4);
    s = reduce(s, { type: "moveTo", index: "first" });
    expect(selectedLoop(s)?.spec.title).toBe("newest");
  });

  test("when the selected loop is deleted, the selection stays on its row", () => {
    let s = reduce(withLoops(3), { type: "move", delta: 1 });
    const gone = selectedLoop(s)?.id ?? "";
    s = reduceAll(s, [{ type: "watch", event: { type: "delete", id: gone } }]);
    expect(selectedRow(s)).toBe(1);
    expect(selectedLoop(s)?.spec.title).toBe("loop 0");
  });

  test("the table scrolls to keep the selection on screen", () => {
    let s = withLoops(50, 17);
    const height = tableHeight(s);
    expect(height).toBe(10);
    s = reduce(s, { type: "move", delta: 12 });
    expect(s.tableTop).toBe(3);
    s = reduce(s, { type: "move", delta: -5 });
    expect(s.tableTop).toBe(3);
    s = reduce(s, { type: "moveTo", index: "last" });
    expect(s.tableTop).toBe(40);
    s = reduce(s, { type: "resize", rows: 60, columns: 100 });
    expect(s.tableTop).toBe(0);
  });
});

describe("state: filter", () => {
  test("matches id, title, repository and state, case-insensitively; the selection moves into the rows", () => {
    const calc = makeLoop({ title: "Calc", createdAt: T });
    const web = makeLoop({ repo: "https://github.com/acme/web.git", state: "flatline", createdAt: T + 1 });
    let s = reduceAll(initialState({ now: T }), [
      { type: "watch", event: { type: "put", loop: calc } },
      { type: "watch", event: { type: "put", loop: web } },
    ]);
    const only = (value: string) => visibleLoops(reduce(s, { type: "setFilter", value })).map((l) => l.id);
    expect(only("calc")).toEqual([calc.id]);
    expect(only("ACME/WEB")).toEqual([web.id]);
    expect(only("flat")).toEqual([web.id]);
    expect(only(calc.id.slice(-6))).toEqual([calc.id]);
    expect(only("nothing")).toEqual([]);
    expect(only("")).toEqual([web.id, calc.id]);
    s = reduce(s, { type: "prompt", prompt: { kind: "filter", value: "calc", previous: "" } });
    expect(s.filter).toBe("calc");
    expect(selectedLoop(s)?.id).toBe(calc.id);
  });
});

describe("state: detail view and journal", () => {
  test("open shows the selected loop with an empty journal; entries stream in; back forgets them", () => {
    let s = withLoops(2);
    const id = selectedLoop(s)?.id ?? "";
    s = reduce(s, { type: "open" });
    expect(s.view).toEqual({ kind: "detail", loopId: id });
    expect(targetLoopId(s)).toBe(id);
    s = reduceAll(
      s,
      makeEntries(id, 1, 3).map((entry) => ({ type: "journal", entry }) as const),
    );
    expect(s.journal?.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    s = reduce(s, { type: "back" });
    expect(s.view).toEqual({ kind: "table" });
    expect(s.journal).toBeUndefined();
    // Entries still in flight for the closed view are ignored.
    expect(
      reduceAll(
        s,
        makeEntries(id, 4, 4).map((entry) => ({ type: "journal", entry }) as const),
      ).journal,
    ).toBeUndefined();
  });

  test("the journal keeps at most journalLimit lines however many arrive", () => {
    let s = reduce(withLoops(1), { type: "open" });
    s = { ...s, journal: s.journal && { ...s.journal, limit: 100 } };
    const id = targetLoopId(s) ?? "";
    for (let from = 1; from <= 10_000; from += 500)
      s = reduceAll(
        s,
        makeEntries(id, from, from + 499).map((entry) => ({ type: "journal", entry }) as const),
      );
    expect(s.journal?.entries).toHaveLength(100);
    expect(s.journal?.entries.at(-1)?.seq).toBe(10_000);
    expect(s.journal?.dropped).toBe(9_900);
  });

  test("scrolling turns follow off; f and G turn it back on", () => {
    let s = reduce(withLoops(1), { type: "open" });
    const id = targetLoopId(s) ?? "";
    s = reduceAll(
      s,
      makeEntries(id, 1, 50).map((entry) => ({ type: "journal", entry }) as const),
    );
    s = reduce(s, { type: "scroll", delta: -1 });
    expect(s.journal?.follow).toBe(false);
    s = reduce(s, { type: "toggleFollow" });
    expect(s.journal?.follow).toBe(true);
    s = reduce(s, { type: "scrollTo", end: "top" });
    expect(s.journal).toMatchObject({ follow: false, anchorSeq: 9 });
    s = reduce(s, { type: "scrollTo", end: "bottom" });
    expect(s.journal?.follow).toBe(true);
  });
});

describe("state: connection and status", () => {
  test("connecting → connected → reconnecting (with the time it was lost) → reconnected", () => {
    let s = initialState({ now: T });
    s = reduce(s, { type: "connection", connected: false, at: T, error: "ECONNREFUSED" });
    expect(s.connection).toEqual({ status: "connecting", error: "ECONNREFUSED" });
    s = reduce(s, { type: "connection", connected: true, at: T + 1 });
    expect(s.connection).toEqual({ status: "connected", since: T + 1 });
    s = reduce(s, { type: "connection", connected: false, at: T + 10, error: "fetch failed" });
    expect(s.connection).toEqual({ status: "reconnecting", lostAt: T + 10, error: "fetch failed" });
    s = reduce(s, { type: "connection", connected: false, at: T + 20 });
    expect(s.connection).toEqual({ status: "reconnecting", lostAt: T + 10, error: "fetch failed" });
    s = reduce(s, { type: "connection", connected: true, at: T + 30 });
    expect(s.connection).toEqual({ status: "connected", since: T + 30, lostAt: T + 10 });
  });

  test("the journal's connection only counts for the loop on screen", () => {
    let s = reduce(withLoops(1), { type: "open" });
    const id = targetLoopId(s) ?? "";
    s = reduce(s, { type: "journalConnection", loopId: "01m7xsfsa5mwczyv4tg1eve02v", connected: true, at: T });
    expect(s.journalConnection.status).toBe("connecting");
    s = reduce(s, { type: "journalConnection", loopId: id, connected: true, at: T });
    expect(s.journalConnection.status).toBe("connected");
  });

  test("a status message expires with the clock", () => {
    let s = reduce(initialState({ now: T }), { type: "status", text: "boom", level: "error", at: T });
    s = reduce(s, { type: "tick", now: T + 5_000 });
    expect(s.status?.text).toBe("boom");
    s = reduce(s, { type: "tick", now: T + 10_000 });
    expect(s.status).toBeUndefined();
    expect(s.now).toBe(T + 10_000);
  });
});
