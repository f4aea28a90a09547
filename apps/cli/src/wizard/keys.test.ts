import { describe, expect, test } from "vitest";
import { KEY_HELP, keyAction, keyHelpFor } from "./keys.ts";
import { initialWizardState, wizardReducer, type WizardState } from "./state.ts";

const start = initialWizardState();

function onDepsPicker(): WizardState {
  let state = wizardReducer(start, { type: "addStory" });
  state = wizardReducer(state, { type: "addStory" });
  return { ...state, focus: { kind: "deps", story: 1 } };
}

describe("wizard keys", () => {
  test.each([
    ["enter", "", { return: true }, { type: "next" }],
    ["tab", "", { tab: true }, { type: "focusNext" }],
    ["shift+tab", "", { tab: true, shift: true }, { type: "focusPrev" }],
    ["↑", "", { upArrow: true }, { type: "focusPrev" }],
    ["↓", "", { downArrow: true }, { type: "focusNext" }],
    ["esc", "", { escape: true }, { type: "back" }],
    ["backspace", "", { backspace: true }, { type: "backspace" }],
    ["delete", "", { delete: true }, { type: "backspace" }],
    ["pgdn", "", { pageDown: true }, { type: "nextStory" }],
    ["pgup", "", { pageUp: true }, { type: "prevStory" }],
    ["ctrl+n", "n", { ctrl: true }, { type: "addStory" }],
    ["ctrl+a", "a", { ctrl: true }, { type: "addEntry" }],
    ["ctrl+d", "d", { ctrl: true }, { type: "removeEntry" }],
    ["ctrl+x", "x", { ctrl: true }, { type: "removeStory" }],
    ["ctrl+u", "u", { ctrl: true }, { type: "clear" }],
    ["ctrl+e", "e", { ctrl: true }, { type: "nextError" }],
    ["ctrl+r", "r", { ctrl: true }, { type: "review" }],
    ["ctrl+c", "c", { ctrl: true }, { type: "cancel" }],
    ["a letter", "q", {}, { type: "type", text: "q" }],
    ["pasted text", "npm run lint", {}, { type: "type", text: "npm run lint" }],
  ])("%s in a text field", (_name, input, key, action) => {
    expect(keyAction(start, input, key)).toEqual(action);
  });

  test("on the dependency picker, ←/→ move, space toggles, letters do nothing", () => {
    const state = onDepsPicker();
    expect(keyAction(state, "", { leftArrow: true })).toEqual({ type: "moveOption", delta: -1 });
    expect(keyAction(state, "", { rightArrow: true })).toEqual({ type: "moveOption", delta: 1 });
    expect(keyAction(state, " ", {})).toEqual({ type: "toggleOption" });
    expect(keyAction(state, "x", {})).toBeUndefined();
    expect(keyAction(start, "", { leftArrow: true })).toBeUndefined();
  });

  test("unbound keys do nothing", () => {
    expect(keyAction(start, "z", { ctrl: true })).toBeUndefined();
    expect(keyAction(start, "b", { meta: true })).toBeUndefined();
  });

  test("the help line shows the keys that work on the step", () => {
    expect(keyHelpFor("stories")).toContain("ctrl+x remove story");
    expect(keyHelpFor("project")).not.toContain("ctrl+x");
    expect(keyHelpFor("review")).toContain("enter write the PRD");
    expect(KEY_HELP.every((k) => k.keys !== "" && k.does !== "")).toBe(true);
  });
});
