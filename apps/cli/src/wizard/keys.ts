/**
 * The wizard's key bindings: one table that the screen's help line and the docs show, and the
 * function that turns a key press into a WizardAction. Keys are read against the current state
 * inside the reducer (wizardKeyReducer), so keys typed faster than the screen redraws still act
 * on the field they land in.
 */
import { wizardReducer, type WizardAction, type WizardState, type WizardStep } from "./state.ts";

/** The parts of Ink's `Key` the wizard reads (all optional, so tests can pass only what they press). */
export interface KeyPress {
  return?: boolean;
  tab?: boolean;
  shift?: boolean;
  escape?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
}

export interface KeyHelp {
  keys: string;
  does: string;
  /** Where the key does something; everywhere when absent. */
  steps?: readonly WizardStep[];
}

const EDIT_STEPS: readonly WizardStep[] = ["project", "goals", "gates", "stories"];

export const KEY_HELP: readonly KeyHelp[] = [
  { keys: "enter", does: "next field", steps: EDIT_STEPS },
  { keys: "enter", does: "write the PRD", steps: ["review"] },
  { keys: "tab/shift+tab ↑/↓", does: "move between fields", steps: EDIT_STEPS },
  { keys: "esc", does: "back a step" },
  { keys: "ctrl+a", does: "add entry", steps: ["goals", "gates", "stories"] },
  { keys: "ctrl+d", does: "delete entry", steps: ["goals", "gates", "stories"] },
  { keys: "ctrl+n", does: "new story" },
  { keys: "ctrl+x", does: "remove story", steps: ["stories"] },
  { keys: "pgup/pgdn", does: "switch story", steps: ["stories"] },
  { keys: "←/→ space", does: "pick dependencies", steps: ["stories"] },
  { keys: "ctrl+u", does: "clear field", steps: EDIT_STEPS },
  { keys: "ctrl+e", does: "next error" },
  { keys: "ctrl+r", does: "review" },
  { keys: "ctrl+c", does: "quit" },
];

const CTRL_ACTIONS: Record<string, WizardAction | undefined> = {
  c: { type: "cancel" },
  n: { type: "addStory" },
  a: { type: "addEntry" },
  d: { type: "removeEntry" },
  x: { type: "removeStory" },
  u: { type: "clear" },
  e: { type: "nextError" },
  r: { type: "review" },
};

/** The action a key press means in `state`; undefined when it means nothing there. */
export function keyAction(state: WizardState, input: string, key: KeyPress): WizardAction | undefined {
  const onDeps = state.focus?.kind === "deps";
  if (key.ctrl) return CTRL_ACTIONS[input.toLowerCase()];
  if (key.return) return { type: "next" };
  if (key.tab) return { type: key.shift ? "focusPrev" : "focusNext" };
  if (key.escape) return { type: "back" };
  if (key.upArrow) return { type: "focusPrev" };
  if (key.downArrow) return { type: "focusNext" };
  if (key.pageDown) return { type: "nextStory" };
  if (key.pageUp) return { type: "prevStory" };
  if (key.leftArrow || key.rightArrow)
    return onDeps ? { type: "moveOption", delta: key.leftArrow ? -1 : 1 } : undefined;
  if (key.backspace || key.delete) return { type: "backspace" };
  if (key.meta || input === "") return undefined;
  if (onDeps) return input === " " ? { type: "toggleOption" } : undefined;
  return { type: "type", text: input };
}

export interface KeyEvent {
  input: string;
  key: KeyPress;
}

/** The screen's reducer: a key press applied to the latest state. */
export function wizardKeyReducer(state: WizardState, event: KeyEvent): WizardState {
  const action = keyAction(state, event.input, event.key);
  return action === undefined ? state : wizardReducer(state, action);
}

/** The help line for a step: `enter next field · tab/shift+tab ↑/↓ move between fields · ...`. */
export function keyHelpFor(step: WizardStep): string {
  return KEY_HELP.filter((k) => k.steps === undefined || k.steps.includes(step))
    .map((k) => `${k.keys} ${k.does}`)
    .join(" · ");
}
