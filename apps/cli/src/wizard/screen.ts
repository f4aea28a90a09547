/**
 * The wizard's Ink screen. Thin: it renders a WizardState (state.ts) and feeds key presses to
 * wizardKeyReducer (keys.ts). Node's type stripping does not transform JSX, hence createElement.
 */
import type { Prd } from "@smith/core";
import { Box, Text, useApp, useInput } from "ink";
import React, { useEffect, useReducer, type ReactElement, type ReactNode } from "react";
import { dependencyOptions } from "./draft.ts";
import { keyHelpFor, wizardKeyReducer } from "./keys.ts";
import {
  STEP_TITLES,
  WIZARD_STEPS,
  allDiagnostics,
  anchorOfPath,
  describeAnchor,
  diagnosticsAt,
  errorCountOf,
  initialWizardState,
  sameField,
  storyOf,
  textOf,
  wizardResult,
  type Anchor,
  type Field,
  type WizardState,
} from "./state.ts";

const h = React.createElement;

export type WizardResult = { outcome: "finished"; prd: Prd } | { outcome: "cancelled" };

export interface PrdWizardProps {
  /** A PRD to review and edit (an agent's draft); without it the wizard starts empty. */
  initial?: Prd;
  /** Where the PRD will be written (shown on the review screen). */
  outPath: string;
  /** Where the Markdown copy will be written, when one is. */
  markdownPath?: string;
  /** outPath already exists and will be replaced. */
  overwrites?: boolean;
  /** Called once, when the person finishes or quits; the Ink app then exits with the same value. */
  onDone?: (result: WizardResult) => void;
}

export function PrdWizard(props: PrdWizardProps): ReactElement {
  const [state, dispatch] = useReducer(wizardKeyReducer, props.initial, initialWizardState);
  const { exit } = useApp();
  useInput((input, key) => dispatch({ input, key }));
  const { onDone } = props;
  useEffect(() => {
    if (state.outcome === "editing") return;
    const result: WizardResult =
      state.outcome === "finished" ? { outcome: "finished", prd: wizardResult(state) } : { outcome: "cancelled" };
    onDone?.(result);
    exit(result);
    // Only the outcome's change matters: the state is final once it is not "editing".
  }, [state.outcome]);
  return h(WizardView, {
    state,
    outPath: props.outPath,
    markdownPath: props.markdownPath,
    overwrites: props.overwrites ?? false,
  });
}

interface WizardViewProps {
  state: WizardState;
  outPath: string;
  markdownPath: string | undefined;
  overwrites: boolean;
}

/** The whole screen for one state. */
function WizardView({ state, outPath, markdownPath, overwrites }: WizardViewProps): ReactElement {
  const { report } = state;
  const readinessColor = report.readiness === "pass" ? "green" : report.readiness === "warn" ? "yellow" : "red";
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, "smith prd new"),
    h(StepBar, { state }),
    h(Box, { flexDirection: "column", marginTop: 1 }, stepBody(state, { outPath, markdownPath, overwrites })),
    state.notice === undefined ? null : h(Box, { marginTop: 1 }, h(Text, { color: "yellow" }, state.notice)),
    h(
      Box,
      { marginTop: 1 },
      h(Text, null, "readiness "),
      h(Text, { color: readinessColor, bold: true }, report.readiness.toUpperCase()),
      h(
        Text,
        { dimColor: true },
        ` (${count(report.errors.length, "error")}, ${count(report.warnings.length, "warning")})`,
      ),
    ),
    h(Text, { dimColor: true }, keyHelpFor(state.step)),
  );
}

function StepBar({ state }: { state: WizardState }): ReactElement {
  return h(
    Box,
    { gap: 2 },
    ...WIZARD_STEPS.map((step, i) => {
      const errors = errorCountOf(state.report, step);
      const current = step === state.step;
      return h(
        Text,
        { key: step, bold: current, color: current ? "cyan" : undefined, dimColor: !current },
        `${current ? "▸" : " "}${i + 1} ${STEP_TITLES[step]}`,
        errors > 0 ? h(Text, { color: "red" }, ` ✖${errors}`) : null,
      );
    }),
  );
}

function stepBody(
  state: WizardState,
  review: { outPath: string; markdownPath: string | undefined; overwrites: boolean },
): ReactNode {
  const { draft } = state;
  switch (state.step) {
    case "project":
      return [
        textRow(state, "Project", { kind: "project" }, "k-project"),
        diagnostics(state, "project"),
        textRow(state, "Overview", { kind: "overview" }, "k-overview"),
        diagnostics(state, "overview"),
      ];
    case "goals":
      return [listRows(state, "Goals", "goals"), listRows(state, "Non-goals", "nonGoals")];
    case "gates":
      return [
        h(
          Text,
          { key: "hint", dimColor: true },
          "Shell commands run from the repository root after every story; all must pass.",
        ),
        listRows(state, "Quality gates", "qualityGates"),
      ];
    case "stories":
      return storyBody(state);
    case "review":
      return reviewBody(state, review, draft);
  }
}

/** A labelled one-line text field: `› Title        Export invoices▌`. */
function textRow(state: WizardState, label: string, field: Field, key: string): ReactElement {
  const focused = sameField(state.focus, field);
  const text = textOf(state.draft, field) ?? "";
  return h(
    Box,
    { key },
    h(Text, { color: focused ? "cyan" : undefined }, `${focused ? "›" : " "} ${label.padEnd(12)} `),
    text === "" && !focused ? h(Text, { dimColor: true }, "(empty)") : h(Text, null, text),
    focused ? h(Text, { color: "cyan" }, "▌") : null,
  );
}

function listRows(state: WizardState, label: string, list: "goals" | "nonGoals" | "qualityGates"): ReactElement {
  const items = state.draft[list];
  return h(
    Box,
    { key: list, flexDirection: "column", marginBottom: 1 },
    h(Text, { bold: true }, label),
    ...Array.from({ length: Math.max(1, items.length) }, (_, index) =>
      textRow(state, `${index + 1}.`, { kind: "entry", list, index }, `${list}-${index}`),
    ),
    diagnostics(state, list),
  );
}

function storyBody(state: WizardState): ReactNode {
  const { draft } = state;
  if (draft.stories.length === 0) return h(Text, { key: "none" }, "No stories. ctrl+n adds one.");
  const current = (state.focus === undefined ? undefined : storyOf(state.focus)) ?? 0;
  const story = draft.stories[current];
  if (story === undefined) return null;
  const overview = h(
    Box,
    { key: "overview", gap: 1, flexWrap: "wrap" },
    ...draft.stories.map((s, i) => {
      const errors = state.report.errors.filter((d) => anchorOfPath(d.path).startsWith(`story ${i}`)).length;
      return h(
        Text,
        { key: s.id + String(i), inverse: i === current, color: errors > 0 ? "red" : "green" },
        `${s.id}${errors > 0 ? " ✖" : " ✔"}`,
      );
    }),
  );
  const criteria = story.acceptanceCriteria;
  return [
    overview,
    diagnostics(state, "stories"),
    h(
      Box,
      { key: "story", flexDirection: "column", marginTop: 1 },
      h(Text, { bold: true }, `${story.id} · story ${current + 1} of ${draft.stories.length} · ${story.status}`),
      diagnostics(state, `story ${current}`),
      textRow(state, "Title", { kind: "title", story: current }, "title"),
      diagnostics(state, `story ${current} title`),
      textRow(state, "Description", { kind: "description", story: current }, "description"),
      diagnostics(state, `story ${current} description`),
      h(Text, { key: "criteria-label" }, "  Acceptance criteria"),
      ...Array.from({ length: Math.max(1, criteria.length) }, (_, index) =>
        textRow(state, `  ${index + 1}.`, { kind: "criterion", story: current, index }, `criterion-${index}`),
      ),
      diagnostics(state, `story ${current} criteria`),
      dependsOnRow(state, current),
      diagnostics(state, `story ${current} deps`),
    ),
  ];
}

/** `› Depends on   [x] US-001  [ ] US-003`, the highlighted option underlined. */
function dependsOnRow(state: WizardState, story: number): ReactElement {
  const options = dependencyOptions(state.draft, story);
  const field: Field = { kind: "deps", story };
  const focused = sameField(state.focus, field);
  const dependsOn = state.draft.stories[story]?.dependsOn ?? [];
  return h(
    Box,
    { key: "deps", gap: 1 },
    h(Text, { color: focused ? "cyan" : undefined }, `${focused ? "›" : " "} ${"Depends on".padEnd(12)}`),
    ...(options.length === 0
      ? [h(Text, { key: "none", dimColor: true }, "(no other stories yet)")]
      : options.map((id, i) =>
          h(
            Text,
            {
              key: id,
              underline: focused && i === state.option,
              color: focused && i === state.option ? "cyan" : undefined,
            },
            `[${dependsOn.includes(id) ? "x" : " "}] ${id}`,
          ),
        )),
  );
}

function reviewBody(
  state: WizardState,
  where: { outPath: string; markdownPath: string | undefined; overwrites: boolean },
  draft: Prd,
): ReactNode {
  const gates = draft.qualityGates.filter((g) => g.trim() !== "");
  const goals = draft.goals.filter((g) => g.trim() !== "");
  const problems = allDiagnostics(state.report);
  return [
    h(Text, { key: "project", bold: true }, draft.project || "(no project name)"),
    draft.overview === "" ? null : h(Text, { key: "overview" }, draft.overview),
    h(Text, { key: "goals" }, `Goals: ${goals.length === 0 ? "none" : goals.join("; ")}`),
    h(Text, { key: "gates" }, `Quality gates: ${gates.length === 0 ? "none" : gates.join(" && ")}`),
    h(
      Box,
      { key: "stories", flexDirection: "column", marginTop: 1 },
      h(Text, { bold: true }, `Stories (${draft.stories.length})`),
      ...draft.stories.map((s, i) => {
        const criteria = s.acceptanceCriteria.filter((c) => c.trim() !== "").length;
        const deps = s.dependsOn.length === 0 ? "" : ` ← ${s.dependsOn.join(", ")}`;
        return h(
          Text,
          { key: `${s.id}-${i}` },
          `  ${s.id}  ${s.title || "(no title)"}  · ${count(criteria, "criterion", "criteria")}${deps}`,
        );
      }),
    ),
    h(
      Box,
      { key: "problems", flexDirection: "column", marginTop: 1 },
      problems.length === 0 ? h(Text, { color: "green" }, "No problems found.") : h(Text, { bold: true }, "Problems"),
      ...problems.map((shown, i) =>
        h(
          Box,
          { key: `p-${i}`, flexDirection: "column" },
          h(
            Text,
            { color: shown.severity === "error" ? "red" : "yellow" },
            `${shown.severity === "error" ? "✖" : "⚠"} ${describeAnchor(anchorOfPath(shown.diagnostic.path), draft)}: ${shown.diagnostic.message}`,
          ),
          h(Text, { dimColor: true }, `  → ${shown.diagnostic.suggestion}`),
        ),
      ),
    ),
    h(
      Box,
      { key: "write", flexDirection: "column", marginTop: 1 },
      h(
        Text,
        { color: state.report.readiness === "fail" ? "red" : "green" },
        state.report.readiness === "fail"
          ? "Fix the errors above before the PRD can be written."
          : `enter writes ${where.outPath}${where.markdownPath === undefined ? "" : ` and ${where.markdownPath}`}`,
      ),
      where.overwrites ? h(Text, { color: "yellow" }, `${where.outPath} exists and will be replaced.`) : null,
    ),
  ];
}

/** The diagnostics shown under a field: `✖ message` and `→ suggestion`. */
function diagnostics(state: WizardState, anchor: Anchor): ReactElement | null {
  const shown = diagnosticsAt(state.report, anchor);
  if (shown.length === 0) return null;
  return h(
    Box,
    { key: `d-${anchor}`, flexDirection: "column", marginLeft: 4 },
    ...shown.map(({ severity, diagnostic }, i) =>
      h(
        Box,
        { key: String(i), flexDirection: "column" },
        h(
          Text,
          { color: severity === "error" ? "red" : "yellow" },
          `${severity === "error" ? "✖" : "⚠"} ${diagnostic.message}`,
        ),
        h(Text, { dimColor: true }, `  → ${diagnostic.suggestion}`),
      ),
    ),
  );
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
