import type { Key } from "ink";
import {
  journalHeight,
  reduceAll,
  tableHeight,
  targetLoopId,
  VIEW_NAMES,
  type Action,
  type Prompt,
  type TuiState,
  type ViewName,
} from "./state.ts";

// The key map: a pure function from (state, key) to state actions and at most one command for
// the outside world (an API mutation, or quitting). The `?` overlay lists the same bindings.

export type Command =
  | { type: "quit" }
  | { type: "cancel"; loopId: string; reason: string }
  | { type: "retry"; loopId: string; reason: string }
  | { type: "steer"; loopId: string; message: string }
  | { type: "answer"; loopId: string; answer: string }
  /** A loop from a local PRD file (validated with prd.validate first) for a repository. */
  | { type: "create"; prdPath: string; repoUrl: string };

export interface KeyResult {
  actions: Action[];
  command?: Command;
}

/** Ink's key flags; absent ones are false (tests pass only the ones they press). */
export type KeyInfo = Partial<Key>;

/** For the help overlay: [keys, what they do], per view. */
export const KEY_HELP: { title: string; keys: [string, string][] }[] = [
  {
    title: "Loops",
    keys: [
      ["j / ↓, k / ↑", "move the selection"],
      ["pgdn / pgup, g / G", "a page; first / last loop"],
      ["enter", "open the loop: summary, stories and live journal"],
      ["/", "filter by id, title, repository or state (esc clears)"],
      ["n", "a new loop: a local PRD file, then the repository URL"],
    ],
  },
  {
    title: "Loop detail",
    keys: [
      ["↑ ↓ / k j, pgup pgdn", "scroll the journal (stops following)"],
      ["f, g / G", "follow on / off; oldest line / newest line and follow"],
      ["/, n / N", "search the journal; the next older / newer match"],
      ["esc", "clear the search, else back to the loops (also from :audit, :cost)"],
    ],
  },
  {
    title: "Everywhere",
    keys: [
      [":", "switch views: :loops, :audit (the last day's events), :cost"],
      ["c", "cancel the loop (asks, then a reason)"],
      ["r", "retry a flatlined loop (with a reason)"],
      ["s", "steer: a message for the loop's next iteration"],
      ["a", "answer a waiting loop (its question is in the detail view)"],
      ["?, q / ctrl-c", "this help (any key closes it); quit"],
    ],
  },
];

const none: KeyResult = { actions: [] };

/**
 * Ink hands over a paste, or several keys written at once (as `tmux send-keys` does), as one
 * input. This splits it into the keys a person would have pressed — single characters, and
 * `\r` as enter — and maps each against the state the previous ones left.
 */
export function handleInput(state: TuiState, input: string, key: KeyInfo): { actions: Action[]; commands: Command[] } {
  const actions: Action[] = [];
  const commands: Command[] = [];
  let s = state;
  for (const k of splitInput(input, key)) {
    const r = handleKey(s, k.input, k.key);
    actions.push(...r.actions);
    if (r.command) commands.push(r.command);
    if (r.command?.type === "quit") break;
    s = reduceAll(s, r.actions);
  }
  return { actions, commands };
}

export function splitInput(input: string, key: KeyInfo): { input: string; key: KeyInfo }[] {
  const chars = [...input];
  const special = key.ctrl || key.meta || key.escape || key.return || key.tab || key.backspace || key.delete;
  if (chars.length <= 1 || special) return [{ input, key }];
  return chars.map((ch) => (ch === "\r" ? { input: "", key: { return: true } } : { input: ch, key: {} }));
}

export function handleKey(state: TuiState, input: string, key: KeyInfo): KeyResult {
  if (key.ctrl && input === "c") return { actions: [], command: { type: "quit" } };
  if (state.prompt) return promptKey(state, state.prompt, input, key);
  if (state.help) return { actions: [{ type: "help", open: false }] };
  if (input === "?") return { actions: [{ type: "help", open: true }] };
  if (input === "q") return { actions: [], command: { type: "quit" } };
  if (input === ":") return { actions: [{ type: "prompt", prompt: { kind: "command", value: "" } }] };
  if (state.view.kind === "audit" || state.view.kind === "cost")
    return key.escape ? { actions: [{ type: "switchView", to: "loops" }] } : none;
  const target = targetLoopId(state);
  if (target && (input === "c" || input === "r" || input === "s" || input === "a")) {
    const prompt: Prompt =
      input === "c"
        ? { kind: "confirm-cancel", loopId: target }
        : { kind: input === "r" ? "retry-reason" : input === "a" ? "answer" : "steer", loopId: target, value: "" };
    return { actions: [{ type: "prompt", prompt }] };
  }
  return state.view.kind === "table" ? tableKey(state, input, key) : detailKey(state, input, key);
}

function tableKey(state: TuiState, input: string, key: KeyInfo): KeyResult {
  const page = tableHeight(state);
  if (input === "j" || key.downArrow) return { actions: [{ type: "move", delta: 1 }] };
  if (input === "k" || key.upArrow) return { actions: [{ type: "move", delta: -1 }] };
  if (key.pageDown) return { actions: [{ type: "move", delta: page }] };
  if (key.pageUp) return { actions: [{ type: "move", delta: -page }] };
  if (input === "g" || key.home) return { actions: [{ type: "moveTo", index: "first" }] };
  if (input === "G" || key.end) return { actions: [{ type: "moveTo", index: "last" }] };
  if (key.return) return { actions: [{ type: "open" }] };
  if (input === "n") return { actions: [{ type: "prompt", prompt: { kind: "new-prd", value: "" } }] };
  if (input === "/")
    return { actions: [{ type: "prompt", prompt: { kind: "filter", value: state.filter, previous: state.filter } }] };
  if (key.escape && state.filter) return { actions: [{ type: "setFilter", value: "" }] };
  return none;
}

function detailKey(state: TuiState, input: string, key: KeyInfo): KeyResult {
  const page = Math.max(1, journalHeight(state) - 1);
  const search = state.journal?.search ?? "";
  if (key.escape) return { actions: [search ? { type: "journalSearch", value: "" } : { type: "back" }] };
  if (input === "/")
    return { actions: [{ type: "prompt", prompt: { kind: "search", value: search, previous: search } }] };
  if (input === "n") return { actions: [{ type: "journalMatch", direction: "older" }] };
  if (input === "N") return { actions: [{ type: "journalMatch", direction: "newer" }] };
  if (input === "k" || key.upArrow) return { actions: [{ type: "scroll", delta: -1 }] };
  if (input === "j" || key.downArrow) return { actions: [{ type: "scroll", delta: 1 }] };
  if (key.pageUp) return { actions: [{ type: "scroll", delta: -page }] };
  if (key.pageDown) return { actions: [{ type: "scroll", delta: page }] };
  if (input === "g" || key.home) return { actions: [{ type: "scrollTo", end: "top" }] };
  if (input === "G" || key.end) return { actions: [{ type: "scrollTo", end: "bottom" }] };
  if (input === "f") return { actions: [{ type: "toggleFollow" }] };
  return none;
}

function promptKey(state: TuiState, prompt: Prompt, input: string, key: KeyInfo): KeyResult {
  if (prompt.kind === "confirm-cancel") {
    if (input === "y" || input === "Y")
      return { actions: [{ type: "prompt", prompt: { kind: "cancel-reason", loopId: prompt.loopId, value: "" } }] };
    if (input === "n" || input === "N" || key.escape) return { actions: [{ type: "prompt", prompt: undefined }] };
    return none;
  }
  if (key.escape) {
    const close: Action = { type: "prompt", prompt: undefined };
    if (prompt.kind === "filter") return { actions: [close, { type: "setFilter", value: prompt.previous }] };
    if (prompt.kind === "search") return { actions: [close, { type: "journalSearch", value: prompt.previous }] };
    return { actions: [close] };
  }
  if (key.return) {
    if (prompt.kind === "filter" || prompt.kind === "search")
      return { actions: [{ type: "prompt", prompt: undefined }] };
    if (prompt.kind === "command")
      return { actions: [{ type: "prompt", prompt: undefined }, switchTo(state, prompt.value)] };
    const text = prompt.value.trim();
    if (!text) {
      const what =
        prompt.kind === "steer"
          ? "a message"
          : prompt.kind === "answer"
            ? "an answer"
            : prompt.kind === "new-prd"
              ? "a PRD file"
              : prompt.kind === "new-repo"
                ? "a repository URL"
                : "a reason";
      return {
        actions: [{ type: "status", level: "error", text: `${what} is required (esc to give up)`, at: state.now }],
      };
    }
    if (prompt.kind === "new-prd")
      return { actions: [{ type: "prompt", prompt: { kind: "new-repo", prdPath: text, value: "" } }] };
    const close: Action = { type: "prompt", prompt: undefined };
    if (prompt.kind === "new-repo")
      return { actions: [close], command: { type: "create", prdPath: prompt.prdPath, repoUrl: text } };
    const command: Command =
      prompt.kind === "steer"
        ? { type: "steer", loopId: prompt.loopId, message: text }
        : prompt.kind === "answer"
          ? { type: "answer", loopId: prompt.loopId, answer: text }
          : { type: prompt.kind === "cancel-reason" ? "cancel" : "retry", loopId: prompt.loopId, reason: text };
    return { actions: [close], command };
  }
  if (key.backspace || key.delete)
    return { actions: [{ type: "prompt", prompt: { ...prompt, value: prompt.value.slice(0, -1) } }] };
  if (key.ctrl || key.meta || key.tab) return none;
  // Typed or pasted text; control characters (arrows' escape bytes, newlines) never enter a reason.
  // eslint-disable-next-line no-control-regex
  const text = input.replace(/[\u0000-\u001f\u007f]/g, "");
  if (!text) return none;
  return { actions: [{ type: "prompt", prompt: { ...prompt, value: prompt.value + text } }] };
}

/** `:audit` (the colon optional): the view, or a status line naming the views there are. */
function switchTo(state: TuiState, typed: string): Action {
  const name = typed.trim().replace(/^:/, "");
  if ((VIEW_NAMES as readonly string[]).includes(name)) return { type: "switchView", to: name as ViewName };
  return {
    type: "status",
    level: "error",
    text: `no view :${name} (there are :${VIEW_NAMES.join(", :")})`,
    at: state.now,
  };
}
