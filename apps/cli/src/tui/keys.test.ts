import { describe, expect, test } from "vitest";
import { handleInput, handleKey, splitInput, type KeyInfo } from "./keys.ts";
import { initialState, reduceAll, selectedLoop, type TuiState } from "./state.ts";
import { makeLoop } from "./testSupport.ts";

const T = Date.parse("2026-01-02T03:04:05.000Z");

function press(state: TuiState, input: string, key: KeyInfo = {}) {
  const r = handleKey(state, input, key);
  return { ...r, state: reduceAll(state, r.actions) };
}

function table(): TuiState {
  return reduceAll(initialState({ now: T }), [
    { type: "watch", event: { type: "put", loop: makeLoop({ createdAt: T, title: "old" }) } },
    { type: "watch", event: { type: "put", loop: makeLoop({ createdAt: T + 1, title: "new" }) } },
  ]);
}

describe("key map", () => {
  test("j/k and the arrows move; enter opens; esc goes back; q and ctrl-c quit", () => {
    let s = table();
    s = press(s, "j").state;
    expect(selectedLoop(s)?.spec.title).toBe("old");
    s = press(s, "", { upArrow: true }).state;
    expect(selectedLoop(s)?.spec.title).toBe("new");
    s = press(s, "", { downArrow: true }).state;
    s = press(s, "", { return: true }).state;
    expect(s.view).toMatchObject({ kind: "detail" });
    s = press(s, "", { escape: true }).state;
    expect(s.view).toEqual({ kind: "table" });
    expect(press(s, "q").command).toEqual({ type: "quit" });
    expect(press(s, "c", { ctrl: true }).command).toEqual({ type: "quit" });
  });

  test("/ types a filter live; enter keeps it; esc restores the previous one; esc on the table clears it", () => {
    let s = press(table(), "/").state;
    for (const ch of "ol") s = press(s, ch).state;
    expect(s.filter).toBe("ol");
    s = press(s, "x").state;
    s = press(s, "", { backspace: true }).state;
    s = press(s, "d").state;
    expect(s.filter).toBe("old");
    // q while typing is text, not quit.
    expect(press(s, "q").command).toBeUndefined();
    s = press(s, "", { return: true }).state;
    expect(s.prompt).toBeUndefined();
    expect(s.filter).toBe("old");
    s = press(s, "/").state;
    s = press(s, "zzz").state;
    expect(s.filter).toBe("oldzzz");
    s = press(s, "", { escape: true }).state;
    expect(s.filter).toBe("old");
    s = press(s, "", { escape: true }).state;
    expect(s.filter).toBe("");
  });

  test("c asks, then takes a reason, then commands the cancel of the selected loop", () => {
    let s = table();
    const id = selectedLoop(s)?.id;
    s = press(s, "c").state;
    expect(s.prompt).toEqual({ kind: "confirm-cancel", loopId: id });
    expect(press(s, "n").state.prompt).toBeUndefined();
    expect(press(s, "", { escape: true }).state.prompt).toBeUndefined();
    s = press(s, "y").state;
    // An empty reason is refused before it reaches the API; the prompt stays.
    const empty = press(s, "", { return: true });
    expect(empty.command).toBeUndefined();
    expect(empty.state.status).toMatchObject({ level: "error", text: expect.stringContaining("a reason is required") });
    expect(empty.state.prompt).toMatchObject({ kind: "cancel-reason" });
    // Pasted text arrives as one input; its control characters (a trailing newline) are dropped.
    s = press(s, "superseded\n").state;
    const done = press(s, "", { return: true });
    expect(done.command).toEqual({ type: "cancel", loopId: id, reason: "superseded" });
    expect(done.state.prompt).toBeUndefined();
  });

  test("r and s ask for a reason / a message, for the loop in the detail view", () => {
    let s = press(press(table(), "j").state, "", { return: true }).state;
    const id = s.view.kind === "detail" ? s.view.loopId : "";
    s = press(s, "r").state;
    s = press(s, "again").state;
    expect(press(s, "", { return: true }).command).toEqual({ type: "retry", loopId: id, reason: "again" });
    s = press(press(s, "", { escape: true }).state, "s").state;
    s = press(s, "use the v2 API").state;
    expect(press(s, "", { return: true }).command).toEqual({ type: "steer", loopId: id, message: "use the v2 API" });
    s = press(press(s, "", { escape: true }).state, "a").state;
    expect(s.prompt).toMatchObject({ kind: "answer", loopId: id });
    expect(press(s, "", { return: true }).state.status).toMatchObject({
      text: expect.stringContaining("an answer is required"),
    });
    s = press(s, "v2").state;
    expect(press(s, "", { return: true }).command).toEqual({ type: "answer", loopId: id, answer: "v2" });
  });

  test("actions on loops need a loop: with none, c does nothing", () => {
    const s = initialState({ now: T });
    expect(handleKey(s, "c", {})).toEqual({ actions: [] });
  });

  test("? opens the help; any key closes it without acting", () => {
    let s = press(table(), "?").state;
    expect(s.help).toBe(true);
    const q = press(s, "q");
    expect(q.command).toBeUndefined();
    s = q.state;
    expect(s.help).toBe(false);
  });

  test("in the detail view, arrows and pages scroll the journal and f toggles follow", () => {
    let s = press(table(), "", { return: true }).state;
    expect(handleKey(s, "", { upArrow: true }).actions).toEqual([{ type: "scroll", delta: -1 }]);
    expect(handleKey(s, "j", {}).actions).toEqual([{ type: "scroll", delta: 1 }]);
    expect(handleKey(s, "", { pageUp: true }).actions).toEqual([{ type: "scroll", delta: -8 }]);
    expect(handleKey(s, "", { pageDown: true }).actions).toEqual([{ type: "scroll", delta: 8 }]);
    expect(handleKey(s, "G", {}).actions).toEqual([{ type: "scrollTo", end: "bottom" }]);
    s = press(s, "f").state;
    expect(s.journal?.follow).toBe(false);
  });

  test("several keys in one input (a paste, tmux send-keys) act as if pressed one by one", () => {
    expect(splitInput("j", {})).toEqual([{ input: "j", key: {} }]);
    expect(splitInput("", { escape: true })).toEqual([{ input: "", key: { escape: true } }]);
    expect(splitInput("a\rb", {})).toEqual([
      { input: "a", key: {} },
      { input: "", key: { return: true } },
      { input: "b", key: {} },
    ]);
    // `/beta`: the slash opens the filter prompt, and the rest is typed into it.
    const s = table();
    const filtered = handleInput(s, "/beta", {});
    expect(reduceAll(s, filtered.actions).filter).toBe("beta");
    // `cyno\r`: c asks, y confirms, "no" is the reason, enter sends it.
    const cancel = handleInput(s, "cyno\r", {});
    expect(cancel.commands).toEqual([{ type: "cancel", loopId: selectedLoop(s)?.id, reason: "no" }]);
    // Nothing after q is handled.
    expect(handleInput(s, "qj", {})).toEqual({ actions: [], commands: [{ type: "quit" }] });
  });
});
