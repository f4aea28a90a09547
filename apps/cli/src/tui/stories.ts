import { parsePrd, type Handoff, type Loop, type StoryEvidence } from "@smith/core";

// The stories panel of the loop view, as data: the PRD's stories (when the PRD is inline in the
// spec) merged with the loop's evidence (each story's last gate results and commit). Pure; the
// component only lays it out.

export interface StoryRow {
  id: string;
  title: string;
  /** The evidence's `passed`/`failed` when the story ran; else the PRD's status (`open`, `in_progress`, `done`). */
  state: string;
  /** Gates of the story's last iteration that passed (or failed only at baseline), of all. */
  gates?: { passed: number; total: number };
  commit?: string;
  /** Why the last iteration failed when no gate says it. */
  failure?: string;
}

/** Story rows shown at most; more are summed up as "… N more". */
export const STORY_ROWS = 4;

let prdCache: { content: string; stories: { id: string; title: string; status: string }[] | undefined } | undefined;

/** The inline PRD's stories, parsed once per content; undefined when the PRD is not inline or not readable. */
function prdStories(loop: Loop): { id: string; title: string; status: string }[] | undefined {
  const prd = loop.spec.prd;
  if (prd.kind !== "inline") return undefined;
  if (prdCache?.content !== prd.content) {
    let stories: { id: string; title: string; status: string }[] | undefined;
    try {
      stories = parsePrd(prd.content).stories.map((s) => ({ id: s.id, title: s.title, status: s.status }));
    } catch {
      stories = undefined;
    }
    prdCache = { content: prd.content, stories };
  }
  return prdCache.stories;
}

function fromEvidence(e: StoryEvidence): Omit<StoryRow, "title"> & { title?: string } {
  const passed = e.gates.filter((g) => g.passed || g.failedAtBaseline).length;
  return {
    id: e.storyId,
    title: e.title,
    state: e.state,
    gates: e.gates.length > 0 ? { passed, total: e.gates.length } : undefined,
    commit: e.commit,
    failure: e.failure,
  };
}

/** PRD order first (with the evidence of each story that ran), then stories only the evidence knows. */
export function storyRows(loop: Loop): StoryRow[] {
  const evidence = new Map((loop.evidence?.stories ?? []).map((e) => [e.storyId, e]));
  const rows: StoryRow[] = [];
  for (const s of prdStories(loop) ?? []) {
    const e = evidence.get(s.id);
    evidence.delete(s.id);
    rows.push(e ? { ...fromEvidence(e), title: e.title ?? s.title } : { id: s.id, title: s.title, state: s.status });
  }
  for (const e of evidence.values()) rows.push({ ...fromEvidence(e), title: e.title ?? "" });
  return rows;
}

/**
 * Rows the panel takes: a heading, the stories (at most STORY_ROWS), the handoff; none when
 * there is nothing to show (no stories known, no pull request, no handoff).
 */
export function storiesPanelRows(loop: Loop | undefined, handoff: Handoff | undefined): number {
  if (!loop) return 0;
  const stories = storyRows(loop).length;
  if (stories === 0 && !loop.status.pullRequest && !handoff) return 0;
  return 1 + Math.min(stories, STORY_ROWS) + (handoff ? 1 : 0);
}
