/**
 * The wizard's Ink screen. Thin: it renders a WizardState (state.ts) and feeds key presses to
 * wizardKeyReducer (keys.ts). Written in html`…` templates (../tui/html.ts), as the TUI is.
 */
import type { Prd } from "@smith/core";
import { Box, Text, useApp, useInput } from "ink";
import { useEffect, useReducer, type ReactElement, type ReactNode } from "react";
import { html } from "../tui/html.ts";
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
  return html`
    <${WizardView}
      state=${state}
      outPath=${props.outPath}
      markdownPath=${props.markdownPath}
      overwrites=${props.overwrites ?? false}
    />
  `;
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
  return html`
    <${Box} flexDirection="column">
      <${Text} bold>smith prd new</${Text}>
      <${StepBar} state=${state} />
      <${Box} flexDirection="column" marginTop=${1}>${stepBody(state, { outPath, markdownPath, overwrites })}</${Box}>
      ${
        state.notice === undefined
          ? null
          : html`
            <${Box} marginTop=${1}>
              <${Text} color="yellow">${state.notice}</${Text}>
            </${Box}>
          `
      }
      <${Box} marginTop=${1}>
        <${Text}>readiness${" "}</${Text}>
        <${Text} color=${readinessColor} bold>${report.readiness.toUpperCase()}</${Text}>
        <${Text} dimColor>
          ${" "}(${count(report.errors.length, "error")}, ${count(report.warnings.length, "warning")})
        </${Text}>
      </${Box}>
      <${Text} dimColor>${keyHelpFor(state.step)}</${Text}>
    </${Box}>
  `;
}

function StepBar({ state }: { state: WizardState }): ReactElement {
  return html`
    <${Box} gap=${2}>
      ${WIZARD_STEPS.map((step, i) => {
        const errors = errorCountOf(state.report, step);
        const current = step === state.step;
        return html`
          <${Text} key=${step} bold=${current} color=${current ? "cyan" : undefined} dimColor=${!current}>
            ${current ? "▸" : " "}${i + 1} ${STEP_TITLES[step]}
            ${errors > 0 ? html`<${Text} color="red">${" "}✖${errors}</${Text}>` : null}
          </${Text}>
        `;
      })}
    </${Box}>
  `;
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
        html`
          <${Text} key="hint" dimColor>
            Shell commands run from the repository root after every story; all must pass.
          </${Text}>
        `,
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
  return html`
    <${Box} key=${key}>
      <${Text} color=${focused ? "cyan" : undefined}>${focused ? "›" : " "} ${label.padEnd(12)}${" "}</${Text}>
      ${text === "" && !focused ? html`<${Text} dimColor>(empty)</${Text}>` : html`<${Text}>${text}</${Text}>`}
      ${focused ? html`<${Text} color="cyan">▌</${Text}>` : null}
    </${Box}>
  `;
}

function listRows(state: WizardState, label: string, list: "goals" | "nonGoals" | "qualityGates"): ReactElement {
  const items = state.draft[list];
  return html`
    <${Box} key=${list} flexDirection="column" marginBottom=${1}>
      <${Text} bold>${label}</${Text}>
      ${Array.from({ length: Math.max(1, items.length) }, (_, index) =>
        textRow(state, `${index + 1}.`, { kind: "entry", list, index }, `${list}-${index}`),
      )}
      ${diagnostics(state, list)}
    </${Box}>
  `;
}

function storyBody(state: WizardState): ReactNode {
  const { draft } = state;
  if (draft.stories.length === 0) return html`<${Text} key="none">No stories. ctrl+n adds one.</${Text}>`;
  const current = (state.focus === undefined ? undefined : storyOf(state.focus)) ?? 0;
  const story = draft.stories[current];
  if (story === undefined) return null;
  const overview = html`
    <${Box} key="overview" gap=${1} flexWrap="wrap">
      ${draft.stories.map((s, i) => {
        const errors = state.report.errors.filter((d) => anchorOfPath(d.path).startsWith(`story ${i}`)).length;
        return html`
          <${Text} key=${s.id + String(i)} inverse=${i === current} color=${errors > 0 ? "red" : "green"}>
            ${s.id}${errors > 0 ? " ✖" : " ✔"}
          </${Text}>
        `;
      })}
    </${Box}>
  `;
  const criteria = story.acceptanceCriteria;
  return [
    overview,
    diagnostics(state, "stories"),
    html`
      <${Box} key="story" flexDirection="column" marginTop=${1}>
        <${Text} bold>${story.id} · story ${current + 1} of ${draft.stories.length} · ${story.status}</${Text}>
        ${diagnostics(state, `story ${current}`)}
        ${textRow(state, "Title", { kind: "title", story: current }, "title")}
        ${diagnostics(state, `story ${current} title`)}
        ${textRow(state, "Description", { kind: "description", story: current }, "description")}
        ${diagnostics(state, `story ${current} description`)}
        <${Text} key="criteria-label">  Acceptance criteria</${Text}>
        ${Array.from({ length: Math.max(1, criteria.length) }, (_, index) =>
          textRow(state, `  ${index + 1}.`, { kind: "criterion", story: current, index }, `criterion-${index}`),
        )}
        ${diagnostics(state, `story ${current} criteria`)}
        ${dependsOnRow(state, current)}
        ${diagnostics(state, `story ${current} deps`)}
      </${Box}>
    `,
  ];
}

/** `› Depends on   [x] US-001  [ ] US-003`, the highlighted option underlined. */
function dependsOnRow(state: WizardState, story: number): ReactElement {
  const options = dependencyOptions(state.draft, story);
  const field: Field = { kind: "deps", story };
  const focused = sameField(state.focus, field);
  const dependsOn = state.draft.stories[story]?.dependsOn ?? [];
  return html`
    <${Box} key="deps" gap=${1}>
      <${Text} color=${focused ? "cyan" : undefined}>${focused ? "›" : " "} ${"Depends on".padEnd(12)}</${Text}>
      ${
        options.length === 0
          ? html`<${Text} key="none" dimColor>(no other stories yet)</${Text}>`
          : options.map((id, i) => {
              const highlighted = focused && i === state.option;
              return html`
              <${Text} key=${id} underline=${highlighted} color=${highlighted ? "cyan" : undefined}>
                [${dependsOn.includes(id) ? "x" : " "}] ${id}
              </${Text}>
            `;
            })
      }
    </${Box}>
  `;
}

function reviewBody(
  state: WizardState,
  where: { outPath: string; markdownPath: string | undefined; overwrites: boolean },
  draft: Prd,
): ReactNode {
  const gates = draft.qualityGates.filter((g) => g.trim() !== "");
  const goals = draft.goals.filter((g) => g.trim() !== "");
  const problems = allDiagnostics(state.report);
  const fails = state.report.readiness === "fail";
  const also = where.markdownPath === undefined ? "" : ` and ${where.markdownPath}`;
  return [
    html`<${Text} key="project" bold>${draft.project || "(no project name)"}</${Text}>`,
    draft.overview === "" ? null : html`<${Text} key="overview">${draft.overview}</${Text}>`,
    html`<${Text} key="goals">Goals: ${goals.length === 0 ? "none" : goals.join("; ")}</${Text}>`,
    html`<${Text} key="gates">Quality gates: ${gates.length === 0 ? "none" : gates.join(" && ")}</${Text}>`,
    html`
      <${Box} key="stories" flexDirection="column" marginTop=${1}>
        <${Text} bold>Stories (${draft.stories.length})</${Text}>
        ${draft.stories.map((s, i) => {
          const criteria = s.acceptanceCriteria.filter((c) => c.trim() !== "").length;
          const deps = s.dependsOn.length === 0 ? "" : ` ← ${s.dependsOn.join(", ")}`;
          return html`
            <${Text} key=${`${s.id}-${i}`}>
              ${"  "}${s.id}  ${s.title || "(no title)"}  · ${count(criteria, "criterion", "criteria")}${deps}
            </${Text}>
          `;
        })}
      </${Box}>
    `,
    html`
      <${Box} key="problems" flexDirection="column" marginTop=${1}>
        ${
          problems.length === 0
            ? html`<${Text} color="green">No problems found.</${Text}>`
            : html`<${Text} bold>Problems</${Text}>`
        }
        ${problems.map(
          (shown, i) => html`
            <${Box} key=${`p-${i}`} flexDirection="column">
              <${Text} color=${shown.severity === "error" ? "red" : "yellow"}>
                ${shown.severity === "error" ? "✖" : "⚠"}${" "}
                ${describeAnchor(anchorOfPath(shown.diagnostic.path), draft)}: ${shown.diagnostic.message}
              </${Text}>
              <${Text} dimColor>  → ${shown.diagnostic.suggestion}</${Text}>
            </${Box}>
          `,
        )}
      </${Box}>
    `,
    html`
      <${Box} key="write" flexDirection="column" marginTop=${1}>
        <${Text} color=${fails ? "red" : "green"}>
          ${fails ? "Fix the errors above before the PRD can be written." : `enter writes ${where.outPath}${also}`}
        </${Text}>
        ${
          where.overwrites
            ? html`<${Text} color="yellow">${where.outPath} exists and will be replaced.</${Text}>`
            : null
        }
      </${Box}>
    `,
  ];
}

/** The diagnostics shown under a field: `✖ message` and `→ suggestion`. */
function diagnostics(state: WizardState, anchor: Anchor): ReactElement | null {
  const shown = diagnosticsAt(state.report, anchor);
  if (shown.length === 0) return null;
  return html`
    <${Box} key=${`d-${anchor}`} flexDirection="column" marginLeft=${4}>
      ${shown.map(
        ({ severity, diagnostic }, i) => html`
          <${Box} key=${String(i)} flexDirection="column">
            <${Text} color=${severity === "error" ? "red" : "yellow"}>
              ${severity === "error" ? "✖" : "⚠"} ${diagnostic.message}
            </${Text}>
            <${Text} dimColor>  → ${diagnostic.suggestion}</${Text}>
          </${Box}>
        `,
      )}
    </${Box}>
  `;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
