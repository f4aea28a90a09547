/**
 * The PRD wizard's state machine: steps, the focused field, the draft and its validation. Pure
 * (no Ink, no I/O): the screen renders a WizardState and turns keys into WizardActions
 * (keys.ts), so every behaviour here is unit-tested without a terminal.
 */
import { validatePrd, type Prd, type PrdDiagnostic, type PrdValidationReport } from "@smith/core";
import {
  addStory,
  dependencyOptions,
  draftFrom,
  emptyPrd,
  finalPrd,
  insertEntry,
  removeEntry,
  removeStory,
  setEntry,
  toggleDependency,
  updateStory,
  type DocumentList,
} from "./draft.ts";

export const WIZARD_STEPS = ["project", "goals", "gates", "stories", "review"] as const;
export type WizardStep = (typeof WIZARD_STEPS)[number];

export const STEP_TITLES: Record<WizardStep, string> = {
  project: "Project",
  goals: "Goals",
  gates: "Quality gates",
  stories: "Stories",
  review: "Review",
};

/** One editable thing on screen. Story and entry positions are indexes into the draft. */
export type Field =
  | { kind: "project" }
  | { kind: "overview" }
  | { kind: "entry"; list: DocumentList; index: number }
  | { kind: "title"; story: number }
  | { kind: "description"; story: number }
  | { kind: "criterion"; story: number; index: number }
  | { kind: "deps"; story: number };

export interface WizardState {
  step: WizardStep;
  /** Undefined on the review step, and on the stories step once every story is removed. */
  focus: Field | undefined;
  /** The highlighted id in the focused dependency picker. */
  option: number;
  /** The PRD being edited; may hold blank entries (see draft.ts). */
  draft: Prd;
  /** validatePrd(finalPrd(draft)), recomputed after every change. */
  report: PrdValidationReport;
  /** Why the last key did nothing, or what it needs; cleared by the next key. */
  notice: string | undefined;
  outcome: "editing" | "finished" | "cancelled";
}

export type WizardAction =
  | { type: "type"; text: string }
  | { type: "backspace" }
  | { type: "clear" }
  /** Enter: the next field; past the last field, the next step; on review, finish. */
  | { type: "next" }
  | { type: "focusNext" }
  | { type: "focusPrev" }
  /** Esc: the previous step. */
  | { type: "back" }
  | { type: "review" }
  | { type: "nextError" }
  | { type: "nextStory" }
  | { type: "prevStory" }
  | { type: "addStory" }
  | { type: "removeStory" }
  | { type: "addEntry" }
  | { type: "removeEntry" }
  | { type: "moveOption"; delta: 1 | -1 }
  | { type: "toggleOption" }
  | { type: "cancel" };

/** A new PRD starts at the first field; a given one (an agent's draft) at the review screen. */
export function initialWizardState(initial?: Prd): WizardState {
  const draft = initial === undefined ? emptyPrd() : draftFrom(initial);
  const step: WizardStep = initial === undefined ? "project" : "review";
  return {
    step,
    focus: fieldsOf(step, draft)[0],
    option: 0,
    draft,
    report: validateDraft(draft),
    notice: undefined,
    outcome: "editing",
  };
}

function validateDraft(draft: Prd): PrdValidationReport {
  return validatePrd(finalPrd(draft));
}

/** The PRD to write once the wizard finished. */
export function wizardResult(state: WizardState): Prd {
  return finalPrd(state.draft);
}

export function wizardReducer(state: WizardState, action: WizardAction): WizardState {
  if (state.outcome !== "editing") return state;
  const next = apply({ ...state, notice: undefined }, action);
  return next.draft === state.draft ? next : { ...next, report: validateDraft(next.draft) };
}

function apply(state: WizardState, action: WizardAction): WizardState {
  const { draft, focus } = state;
  switch (action.type) {
    case "type": {
      const text = printable(action.text);
      const value = focus === undefined ? undefined : textOf(draft, focus);
      if (focus === undefined || value === undefined || text === "") return state;
      return { ...state, draft: withText(draft, focus, value + text) };
    }
    case "backspace":
    case "clear": {
      const value = focus === undefined ? undefined : textOf(draft, focus);
      if (focus === undefined || value === undefined || value === "") return state;
      const rest = action.type === "clear" ? "" : Array.from(value).slice(0, -1).join("");
      return { ...state, draft: withText(draft, focus, rest) };
    }
    case "next": {
      if (state.step === "review") return finish(state);
      const fields = fieldsOf(state.step, draft);
      const at = focus === undefined ? -1 : indexOfField(fields, focus);
      const following = fields[at + 1];
      if (at >= 0 && following !== undefined) return focusOn(state, following);
      return goToStep(state, stepAfter(state.step));
    }
    case "focusNext":
    case "focusPrev": {
      const fields = fieldsOf(state.step, draft);
      if (fields.length === 0) return state;
      const at = focus === undefined ? -1 : indexOfField(fields, focus);
      const delta = action.type === "focusNext" ? 1 : -1;
      const index = at < 0 ? 0 : (at + delta + fields.length) % fields.length;
      const field = fields[index];
      return field === undefined ? state : focusOn(state, field);
    }
    case "back": {
      const index = WIZARD_STEPS.indexOf(state.step);
      const previous = WIZARD_STEPS[index - 1];
      if (previous === undefined) return { ...state, notice: "This is the first step (ctrl+c quits without writing)." };
      return goToStep(state, previous);
    }
    case "review":
      return goToStep(state, "review");
    case "nextError":
      return nextError(state);
    case "nextStory":
    case "prevStory": {
      if (state.step !== "stories" || draft.stories.length === 0)
        return { ...state, notice: "Page up/down move between stories on the Stories step." };
      const current = focus === undefined ? -1 : (storyOf(focus) ?? -1);
      const index = action.type === "nextStory" ? current + 1 : current - 1;
      if (index < 0 || index >= draft.stories.length) {
        return {
          ...state,
          notice:
            action.type === "nextStory" ? "This is the last story (ctrl+n adds one)." : "This is the first story.",
        };
      }
      return focusOn(state, { kind: "title", story: index });
    }
    case "addStory": {
      const next = addStory(draft);
      return {
        ...state,
        step: "stories",
        draft: next,
        focus: { kind: "title", story: next.stories.length - 1 },
        option: 0,
      };
    }
    case "removeStory": {
      const story = state.step === "stories" && focus !== undefined ? storyOf(focus) : undefined;
      if (story === undefined)
        return { ...state, notice: "ctrl+x removes the story being edited, on the Stories step." };
      const next = removeStory(draft, story);
      const remaining = Math.min(story, next.stories.length - 1);
      return {
        ...state,
        draft: next,
        focus: remaining < 0 ? undefined : { kind: "title", story: remaining },
        option: 0,
        notice: `Removed story ${draft.stories[story]?.id ?? ""}.`,
      };
    }
    case "addEntry":
      return addEntry(state);
    case "removeEntry": {
      const list = focus === undefined ? undefined : listAt(draft, focus);
      if (focus === undefined || list === undefined || !("index" in focus)) {
        return { ...state, notice: "ctrl+d deletes the focused goal, gate or acceptance criterion." };
      }
      if (focus.index >= list.length) return state;
      const items = removeEntry(list, focus.index);
      return {
        ...state,
        draft: withList(draft, focus, items),
        focus: { ...focus, index: Math.max(0, Math.min(focus.index, items.length - 1)) },
      };
    }
    case "moveOption": {
      if (focus?.kind !== "deps") return state;
      const count = dependencyOptions(draft, focus.story).length;
      return count === 0 ? state : { ...state, option: (state.option + action.delta + count) % count };
    }
    case "toggleOption": {
      if (focus?.kind !== "deps") return state;
      const id = dependencyOptions(draft, focus.story)[state.option];
      if (id === undefined) return state;
      return { ...state, draft: updateStory(draft, focus.story, (story) => toggleDependency(story, id)) };
    }
    case "cancel":
      return { ...state, outcome: "cancelled" };
  }
}

function finish(state: WizardState): WizardState {
  if (state.report.readiness !== "fail") return { ...state, outcome: "finished" };
  const n = state.report.errors.length;
  return {
    ...state,
    notice: `Can't write the PRD yet: ${n} ${n === 1 ? "error" : "errors"} (listed above). ctrl+e goes to the next error; esc goes back a step.`,
  };
}

function addEntry(state: WizardState): WizardState {
  const { draft, focus } = state;
  if (focus !== undefined && (focus.kind === "entry" || focus.kind === "criterion")) {
    const list = listAt(draft, focus) ?? [];
    // One empty entry at a time: the focused one is already the place to type.
    if ((list[focus.index] ?? "").trim() === "") return { ...state, notice: "Type into this entry first." };
    return {
      ...state,
      draft: withList(draft, focus, insertEntry(list, focus.index + 1)),
      focus: { ...focus, index: focus.index + 1 },
    };
  }
  const story = focus === undefined ? undefined : storyOf(focus);
  if (story === undefined)
    return {
      ...state,
      notice: "ctrl+a adds a goal, a quality gate or an acceptance criterion: move to one of those lists first.",
    };
  const criteria = draft.stories[story]?.acceptanceCriteria ?? [];
  const last = criteria.length - 1;
  if (last < 0 || (criteria[last] ?? "").trim() === "")
    return focusOn(state, { kind: "criterion", story, index: Math.max(0, last) });
  const field: Field = { kind: "criterion", story, index: criteria.length };
  return { ...state, draft: withList(draft, field, insertEntry(criteria, criteria.length)), focus: field, option: 0 };
}

/** Moves to a step's first field; the stories step gets a first story when there is none. */
function goToStep(state: WizardState, step: WizardStep): WizardState {
  const draft = step === "stories" && state.draft.stories.length === 0 ? addStory(state.draft) : state.draft;
  return { ...state, step, draft, focus: fieldsOf(step, draft)[0], option: 0 };
}

function focusOn(state: WizardState, field: Field): WizardState {
  return { ...state, focus: field, option: 0 };
}

function stepAfter(step: WizardStep): WizardStep {
  return WIZARD_STEPS[WIZARD_STEPS.indexOf(step) + 1] ?? "review";
}

/** Focuses the field of the first error after the focused field (in step order), wrapping. */
function nextError(state: WizardState): WizardState {
  const targets = state.report.errors.map((d) => targetOf(anchorOfPath(d.path), state.draft));
  if (targets.length === 0) return { ...state, notice: "No errors." };
  const order = (step: WizardStep, field: Field | undefined): number =>
    WIZARD_STEPS.indexOf(step) * 1_000_000 +
    (field === undefined ? -1 : indexOfField(fieldsOf(step, state.draft), field));
  const here = order(state.step, state.focus);
  const sorted = [...targets].sort((a, b) => order(a.step, a.field) - order(b.step, b.field));
  const target = sorted.find((t) => order(t.step, t.field) > here) ?? sorted[0];
  if (target === undefined) return state;
  return { ...state, step: target.step, focus: target.field, option: 0 };
}

/** The fields a step shows, in tab order. An empty list still shows one (empty) entry to type into. */
export function fieldsOf(step: WizardStep, draft: Prd): Field[] {
  const entries = (list: DocumentList): Field[] =>
    Array.from({ length: Math.max(1, draft[list].length) }, (_, index) => ({ kind: "entry", list, index }));
  switch (step) {
    case "project":
      return [{ kind: "project" }, { kind: "overview" }];
    case "goals":
      return [...entries("goals"), ...entries("nonGoals")];
    case "gates":
      return entries("qualityGates");
    case "stories":
      return draft.stories.flatMap((s, story): Field[] => [
        { kind: "title", story },
        { kind: "description", story },
        ...Array.from({ length: Math.max(1, s.acceptanceCriteria.length) }, (_, index): Field => ({
          kind: "criterion",
          story,
          index,
        })),
        ...(dependencyOptions(draft, story).length > 0 ? [{ kind: "deps", story } as const] : []),
      ]);
    case "review":
      return [];
  }
}

export function fieldKey(field: Field): string {
  switch (field.kind) {
    case "project":
    case "overview":
      return field.kind;
    case "entry":
      return `${field.list}[${field.index}]`;
    case "title":
    case "description":
    case "deps":
      return `${field.kind}@${field.story}`;
    case "criterion":
      return `criterion@${field.story}[${field.index}]`;
  }
}

export function sameField(a: Field | undefined, b: Field | undefined): boolean {
  return a !== undefined && b !== undefined && fieldKey(a) === fieldKey(b);
}

function indexOfField(fields: Field[], field: Field): number {
  const key = fieldKey(field);
  return fields.findIndex((f) => fieldKey(f) === key);
}

/** The story a field belongs to. */
export function storyOf(field: Field): number | undefined {
  return "story" in field ? field.story : undefined;
}

/** A field's text; undefined for the dependency picker, which is not typed into. */
export function textOf(draft: Prd, field: Field): string | undefined {
  switch (field.kind) {
    case "project":
      return draft.project;
    case "overview":
      return draft.overview;
    case "entry":
      return draft[field.list][field.index] ?? "";
    case "title":
      return draft.stories[field.story]?.title;
    case "description":
      return draft.stories[field.story]?.description;
    case "criterion": {
      const story = draft.stories[field.story];
      return story === undefined ? undefined : (story.acceptanceCriteria[field.index] ?? "");
    }
    case "deps":
      return undefined;
  }
}

function withText(draft: Prd, field: Field, value: string): Prd {
  switch (field.kind) {
    case "project":
      return { ...draft, project: value };
    case "overview":
      return { ...draft, overview: value };
    case "entry":
    case "criterion":
      return withList(draft, field, setEntry(listAt(draft, field) ?? [], field.index, value));
    case "title":
      return updateStory(draft, field.story, (story) => ({ ...story, title: value }));
    case "description":
      return updateStory(draft, field.story, (story) => ({ ...story, description: value }));
    case "deps":
      return draft;
  }
}

/** The list an entry field edits. */
function listAt(draft: Prd, field: Field): string[] | undefined {
  if (field.kind === "entry") return draft[field.list];
  if (field.kind === "criterion") return draft.stories[field.story]?.acceptanceCriteria;
  return undefined;
}

function withList(draft: Prd, field: Field, items: string[]): Prd {
  if (field.kind === "entry") return { ...draft, [field.list]: items };
  if (field.kind === "criterion")
    return updateStory(draft, field.story, (story) => ({ ...story, acceptanceCriteria: items }));
  return draft;
}

/** Typed or pasted text as one line: line breaks and tabs become spaces, other control characters go. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
  return text.replace(/\r\n|[\r\n\t]/g, " ").replace(/[\u0000-\u001f\u007f]/g, "");
}

/**
 * Where on screen a diagnostic belongs, from its document path: `project`, `goals`,
 * `story 1 criteria`, ... `document` for what no field shows (a context block, the size).
 */
export type Anchor = string;

export function anchorOfPath(path: string): Anchor {
  const story = /^(?:stories|userStories)\[(\d+)\](?:\.(\w+))?/.exec(path);
  if (story?.[1] !== undefined) {
    const part = STORY_ANCHORS[story[2] ?? ""];
    return part === undefined ? `story ${story[1]}` : `story ${story[1]} ${part}`;
  }
  const top = path.split(/[.[]/)[0] ?? "";
  return ["project", "overview", "goals", "nonGoals", "qualityGates", "stories"].includes(top) ? top : "document";
}

const STORY_ANCHORS: Record<string, string | undefined> = {
  title: "title",
  description: "description",
  acceptanceCriteria: "criteria",
  dependsOn: "deps",
};

/** The anchor a field's diagnostics are shown with (a list's after its last entry). */
function anchorOfField(field: Field): Anchor {
  switch (field.kind) {
    case "project":
    case "overview":
      return field.kind;
    case "entry":
      return field.list;
    case "title":
    case "description":
      return `story ${field.story} ${field.kind}`;
    case "criterion":
      return `story ${field.story} criteria`;
    case "deps":
      return `story ${field.story} deps`;
  }
}

function stepOfAnchor(anchor: Anchor): WizardStep {
  if (anchor === "project" || anchor === "overview") return "project";
  if (anchor === "goals" || anchor === "nonGoals") return "goals";
  if (anchor === "qualityGates") return "gates";
  if (anchor === "stories" || anchor.startsWith("story ")) return "stories";
  return "review";
}

/** The step and field to go to for a diagnostic at `anchor`. */
function targetOf(anchor: Anchor, draft: Prd): { step: WizardStep; field: Field | undefined } {
  const step = stepOfAnchor(anchor);
  const fields = fieldsOf(step, draft);
  const story = /^story (\d+)$/.exec(anchor)?.[1];
  const field =
    story === undefined
      ? fields.find((f) => anchorOfField(f) === anchor)
      : fields.find((f) => f.kind === "title" && f.story === Number(story));
  return { step, field: field ?? fields[0] };
}

export interface ShownDiagnostic {
  severity: "error" | "warning";
  diagnostic: PrdDiagnostic;
}

/** The report's errors, then warnings, whose anchor is `anchor`. */
export function diagnosticsAt(report: PrdValidationReport, anchor: Anchor): ShownDiagnostic[] {
  return allDiagnostics(report).filter((d) => anchorOfPath(d.diagnostic.path) === anchor);
}

export function allDiagnostics(report: PrdValidationReport): ShownDiagnostic[] {
  return [
    ...report.errors.map((diagnostic) => ({ severity: "error" as const, diagnostic })),
    ...report.warnings.map((diagnostic) => ({ severity: "warning" as const, diagnostic })),
  ];
}

/** Errors per step, for the step bar. */
export function errorCountOf(report: PrdValidationReport, step: WizardStep): number {
  return report.errors.filter((d) => stepOfAnchor(anchorOfPath(d.path)) === step).length;
}

/** Where a diagnostic is, in the wizard's words: `Stories › US-002 › acceptance criteria`. */
export function describeAnchor(anchor: Anchor, draft: Prd): string {
  const story = /^story (\d+)(?: (\w+))?$/.exec(anchor);
  if (story?.[1] !== undefined) {
    const id = draft.stories[Number(story[1])]?.id || `story ${Number(story[1]) + 1}`;
    const part = story[2] === undefined ? undefined : (ANCHOR_WORDS[story[2]] ?? story[2]);
    return ["Stories", id, ...(part === undefined ? [] : [part])].join(" › ");
  }
  const step = stepOfAnchor(anchor);
  const word = ANCHOR_WORDS[anchor];
  return word === undefined || word === STEP_TITLES[step] ? STEP_TITLES[step] : `${STEP_TITLES[step]} › ${word}`;
}

const ANCHOR_WORDS: Record<string, string | undefined> = {
  project: "project name",
  overview: "overview",
  goals: "goals",
  nonGoals: "non-goals",
  qualityGates: "Quality gates",
  stories: "Stories",
  document: "Review",
  title: "title",
  description: "description",
  criteria: "acceptance criteria",
  deps: "depends on",
};
