/**
 * The human side of a Markdown PRD: the grammar a person reads and writes by hand.
 *
 *   # <project>
 *   ## Overview / ## Goals / ## Non-goals / ## Quality gates (bullets of `commands`)
 *   ## Stories
 *   ### US-001: Title
 *   - Status: open | in_progress | done
 *   - Priority: 1
 *   - Depends on: US-000, US-002
 *   <description>
 *   #### Acceptance criteria   (- [ ] / - [x] bullets)
 *   #### Notes
 *
 * Reading is liberal (any heading case, `*` or `1.` bullets, text between the title and the first
 * section is overview, unknown sections are kept in the overview or the story description), so that
 * hand-written PRDs import without ceremony. Headings inside fenced code blocks are text.
 */
import { SmithError } from "../errors.ts";
import { PrdStoryStatus, type PrdStory } from "./model.ts";
import { joinPath } from "./shapes.ts";

/** What the Markdown shows of a story. */
export type ShownStory = Pick<
  PrdStory,
  "id" | "title" | "status" | "dependsOn" | "description" | "acceptanceCriteria" | "priority" | "notes"
>;

/** What the Markdown shows of a PRD, plus the raw text of its metadata block if there is one. */
export interface ShownPrd {
  project: string;
  overview: string;
  goals: string[];
  nonGoals: string[];
  qualityGates: string[];
  stories: ShownStory[];
  metadata?: string;
}

export function renderBody(prd: Omit<ShownPrd, "metadata">): string {
  const blocks: string[] = [`# ${oneLine(prd.project) || "Untitled PRD"}`];
  if (prd.overview !== "") blocks.push("## Overview", textBlock(prd.overview, "overview"));
  if (prd.goals.length > 0) blocks.push("## Goals", bullets(prd.goals));
  if (prd.nonGoals.length > 0) blocks.push("## Non-goals", bullets(prd.nonGoals));
  if (prd.qualityGates.length > 0)
    blocks.push("## Quality gates", bullets(prd.qualityGates.map((gate) => `\`${gate}\``)));
  blocks.push("## Stories");
  for (const story of prd.stories) {
    // The attribute bullets always include Status, so the blank line after them always
    // separates a description that itself starts with "- Priority: 3" from the attributes.
    const attributes = [`- Status: ${story.status}`];
    if (story.priority !== undefined) attributes.push(`- Priority: ${story.priority}`);
    if (story.dependsOn.length > 0) attributes.push(`- Depends on: ${story.dependsOn.map(oneLine).join(", ")}`);
    blocks.push(`### ${oneLine(story.id)}: ${oneLine(story.title)}`, attributes.join("\n"));
    if (story.description !== "") blocks.push(textBlock(story.description, "description"));
    if (story.acceptanceCriteria.length > 0) {
      const box = story.status === "done" ? "[x]" : "[ ]";
      blocks.push("#### Acceptance criteria", bullets(story.acceptanceCriteria.map((c) => `${box} ${c}`)));
    }
    if (story.notes !== undefined) {
      blocks.push("#### Notes");
      if (story.notes !== "") blocks.push(textBlock(story.notes, "notes"));
    }
  }
  return `${blocks.join("\n\n")}\n`;
}

type Section = "intro" | "overview" | "goals" | "nonGoals" | "qualityGates" | "stories" | "metadata";
type StoryPart = "attributes" | "description" | "criteria" | "notes";

interface StoryDraft {
  id: string;
  title: string;
  status?: PrdStory["status"];
  priority?: number;
  dependsOn: string[];
  description: string[];
  criteria: Array<{ text: string; checked: boolean }>;
  notes?: string[];
  part: StoryPart;
  /** Any attribute bullet read yet: blank lines before the first are skipped, the next one ends them. */
  hasAttributes: boolean;
}

/** Reads the Markdown grammar above. Throws invalid_argument for a missing title or a bad attribute. */
export function readBody(markdown: string): ShownPrd {
  let project: string | undefined;
  const overview: string[][] = [];
  const lists = { goals: [] as string[], nonGoals: [] as string[], qualityGates: [] as string[] };
  const drafts: StoryDraft[] = [];
  const metadataBlocks: string[][] = [];
  let section: Section | undefined;
  let text: string[] = [];

  for (const line of scanLines(markdown)) {
    const heading = line.fenced ? undefined : headingOf(line.text);
    if (project === undefined) {
      // Front matter, badges and the like before the title are not part of the PRD.
      if (heading?.level === 1 && heading.text !== "") {
        project = heading.text;
        section = "intro";
        overview.push((text = []));
      }
      continue;
    }
    if (heading?.level === 2) {
      section = sectionOf(heading.text);
      if (section === undefined) {
        // An unknown section is still the author's words: keep it, in the overview.
        section = "overview";
        overview.push((text = [line.text]));
      } else if (section === "overview") overview.push((text = []));
      continue;
    }
    const story = drafts.at(-1);
    if (section === "stories" && heading?.level === 3) {
      drafts.push({
        ...splitStoryHeading(heading.text),
        dependsOn: [],
        description: [],
        criteria: [],
        part: "attributes",
        hasAttributes: false,
      });
      continue;
    }
    if (section === "stories" && story !== undefined && heading?.level === 4) {
      const part = storyPartOf(heading.text);
      if (part === undefined) {
        story.part = "description";
        story.description.push(line.text);
      } else {
        story.part = part;
        if (part === "notes") story.notes ??= [];
      }
      continue;
    }
    switch (section) {
      case "intro":
      case "overview":
        text.push(line.text);
        break;
      case "goals":
      case "nonGoals":
      case "qualityGates":
        addListLine(lists[section], line.text);
        break;
      case "stories":
        if (story !== undefined) readStoryLine(story, line.text, drafts.length - 1);
        break;
      case "metadata":
        if (line.fence === "open") metadataBlocks.push([]);
        else if (line.fenced && line.fence === undefined) metadataBlocks.at(-1)?.push(line.text);
        break;
      case undefined:
        break;
    }
  }
  if (project === undefined) {
    throw invalid("title", "PRD Markdown has no title: start it with `# <project name>`");
  }
  const [metadata] = metadataBlocks;
  return {
    project,
    overview: overview
      .map((lines) => trimBlock(lines))
      .filter((block) => block !== "")
      .join("\n\n"),
    goals: lists.goals,
    nonGoals: lists.nonGoals,
    qualityGates: lists.qualityGates.map(unquoteCode),
    stories: drafts.map(finishStory),
    ...(metadata === undefined ? {} : { metadata: metadata.join("\n") }),
  };
}

function readStoryLine(story: StoryDraft, line: string, storyIndex: number): void {
  if (story.part === "attributes") {
    if (line.trim() === "" && !story.hasAttributes) return;
    const attribute = /^ {0,3}[-*+]\s+(status|priority|depends[ -]?on)\s*:\s*(.*)$/i.exec(line);
    if (attribute !== null) {
      story.hasAttributes = true;
      setAttribute(story, (attribute[1] ?? "").toLowerCase(), (attribute[2] ?? "").trim(), storyIndex);
      return;
    }
    story.part = "description";
  }
  switch (story.part) {
    case "description":
      story.description.push(line);
      break;
    case "notes":
      (story.notes ??= []).push(line);
      break;
    case "criteria": {
      const item = bulletOf(line);
      if (item !== undefined) {
        const box = /^\[([ xX])\]\s?(.*)$/.exec(item);
        story.criteria.push(
          box === null
            ? { text: item.trim(), checked: false }
            : { text: (box[2] ?? "").trim(), checked: box[1] !== " " },
        );
      } else if (line.trim() !== "") {
        const last = story.criteria.at(-1);
        if (last === undefined) story.criteria.push({ text: line.trim(), checked: false });
        else last.text = `${last.text} ${line.trim()}`;
      }
      break;
    }
  }
}

function setAttribute(story: StoryDraft, name: string, value: string, storyIndex: number): void {
  if (name === "status") {
    const parsed = PrdStoryStatus.safeParse(value.toLowerCase().replace(/[\s-]+/g, "_"));
    if (!parsed.success) {
      throw invalid(
        joinPath("stories", storyIndex, "status"),
        `story ${story.id}: status must be open, in_progress or done; got ${JSON.stringify(value)}`,
      );
    }
    story.status = parsed.data;
  } else if (name === "priority") {
    const priority = value === "" ? Number.NaN : Number(value);
    if (!Number.isFinite(priority)) {
      throw invalid(
        joinPath("stories", storyIndex, "priority"),
        `story ${story.id}: priority must be a number; got ${JSON.stringify(value)}`,
      );
    }
    story.priority = priority;
  } else if (!/^(none|-|—|n\/a)$/i.test(value)) {
    story.dependsOn.push(...value.split(/[\s,]+/).filter((id) => id !== ""));
  }
}

function finishStory(draft: StoryDraft): ShownStory {
  // Without a Status line, a story whose every criterion is ticked reads as done.
  const allTicked = draft.criteria.length > 0 && draft.criteria.every((c) => c.checked);
  return {
    id: draft.id,
    title: draft.title,
    status: draft.status ?? (allTicked ? "done" : "open"),
    dependsOn: draft.dependsOn,
    description: trimBlock(draft.description),
    acceptanceCriteria: draft.criteria.map((c) => c.text),
    ...(draft.priority === undefined ? {} : { priority: draft.priority }),
    ...(draft.notes === undefined ? {} : { notes: trimBlock(draft.notes) }),
  };
}

/** `US-001: Title`, also `US-001 - Title` and `US-001 Title` when written by hand. */
function splitStoryHeading(text: string): { id: string; title: string } {
  const colon = text.indexOf(":");
  if (colon >= 0) return { id: text.slice(0, colon).trim(), title: text.slice(colon + 1).trim() };
  const match = /^(\S+)\s*(?:[-–—]\s+)?(.*)$/.exec(text);
  return { id: match?.[1] ?? "", title: (match?.[2] ?? "").trim() };
}

function sectionOf(heading: string): Exclude<Section, "intro"> | undefined {
  switch (heading.toLowerCase().replace(/[^a-z]/g, "")) {
    case "overview":
    case "description":
    case "summary":
      return "overview";
    case "goals":
      return "goals";
    case "nongoals":
    case "outofscope":
      return "nonGoals";
    case "qualitygates":
    case "gates":
      return "qualityGates";
    case "stories":
    case "userstories":
      return "stories";
    case "metadata":
      return "metadata";
    default:
      return undefined;
  }
}

function storyPartOf(heading: string): "criteria" | "notes" | undefined {
  const key = heading.toLowerCase().replace(/[^a-z]/g, "");
  if (key === "acceptancecriteria" || key === "criteria") return "criteria";
  if (key === "notes") return "notes";
  return undefined;
}

/** Bullets and numbered items start an entry; other text continues the previous one. */
function addListLine(list: string[], line: string): void {
  const item = bulletOf(line);
  if (item !== undefined) list.push(item.trim());
  else if (line.trim() !== "") {
    const last = list.pop();
    list.push(last === undefined ? line.trim() : `${last} ${line.trim()}`);
  }
}

function bulletOf(line: string): string | undefined {
  const match = /^ {0,3}(?:[-*+]|\d+[.)])(?:\s+(.*))?$/.exec(line);
  return match === null ? undefined : (match[1] ?? "");
}

/** Gates are shown as code spans; strip exactly one pair so a gate containing backticks survives. */
function unquoteCode(gate: string): string {
  return gate.length >= 2 && gate.startsWith("`") && gate.endsWith("`") ? gate.slice(1, -1) : gate;
}

interface Line {
  text: string;
  /** Inside a fenced code block, or a fence line itself. */
  fenced: boolean;
  fence?: "open" | "close";
}

function scanLines(markdown: string): Line[] {
  const out: Line[] = [];
  let open: string | undefined;
  for (const text of markdown.replace(/\r\n?/g, "\n").split("\n")) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (open === undefined && marker !== undefined) {
      open = marker;
      out.push({ text, fenced: true, fence: "open" });
    } else if (open !== undefined && marker !== undefined && marker.startsWith(open) && text.trim() === marker) {
      open = undefined;
      out.push({ text, fenced: true, fence: "close" });
    } else out.push({ text, fenced: open !== undefined });
  }
  return out;
}

function headingOf(line: string): { level: number; text: string } | undefined {
  const match = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*$/.exec(line);
  if (match === null) return undefined;
  return { level: (match[1] ?? "").length, text: (match[2] ?? "").replace(/\s+#+$/, "").trim() };
}

/**
 * Free text shown as-is when the grammar would read it back in place. A heading that would end
 * the text's section (a known section, a story, a criteria list) or an unclosed fence would split
 * the document, so such text is shown with those lines escaped; the caller keeps the exact text in
 * the metadata block. Headings that read back as part of the same text (an unknown `## Background`
 * in the overview, a `#### Design notes` in a description) are left alone.
 */
function textBlock(text: string, place: "overview" | "description" | "notes"): string {
  const lines = scanLines(text);
  const splits = (line: Line): boolean => {
    const heading = line.fenced ? undefined : headingOf(line.text);
    if (heading === undefined || heading.level === 1 || heading.level > 4) return false;
    if (place === "overview") return heading.level === 2 && sectionOf(heading.text) !== undefined;
    if (place === "description" && heading.level === 4) return storyPartOf(heading.text) !== undefined;
    return true;
  };
  if (!lines.some(splits) && !endsInsideFence(lines)) return text;
  return text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((line) => line.replace(/^( {0,3})([#`~])/, "$1\\$2"))
    .join("\n");
}

function endsInsideFence(lines: Line[]): boolean {
  return lines.at(-1)?.fenced === true && lines.at(-1)?.fence !== "close";
}

function bullets(items: string[]): string {
  return items.map((item) => `- ${oneLine(item)}`).join("\n");
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ");
}

function trimBlock(lines: string[]): string {
  return lines.join("\n").trim();
}

function invalid(path: string, message: string): SmithError {
  return new SmithError("invalid_argument", message, { field: "prd", issues: [{ path, message }] });
}
