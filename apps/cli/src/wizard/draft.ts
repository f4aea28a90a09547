/**
 * The PRD being edited. The draft is a `Prd` that may hold blank list entries (the empty line
 * a person is about to type into); `finalPrd` drops them, and validation always runs on what
 * `finalPrd` returns, so what the wizard shows is what would be written.
 */
import type { Prd, PrdStory } from "@smith/core";

/** The lists of the document the wizard edits entry by entry. */
export type DocumentList = "goals" | "nonGoals" | "qualityGates";

const STORY_ID_PREFIX = "US-";

export function emptyPrd(): Prd {
  return {
    format: "smith",
    project: "",
    overview: "",
    goals: [],
    nonGoals: [],
    qualityGates: [],
    stories: [],
    extra: {},
    keyOrder: [],
  };
}

/**
 * A PRD to start from (e.g. an agent's draft), made ready for editing: the Smith shape with
 * Smith's key order (the file is new, so no one's diff depends on the old order), and an id for
 * every story without one or whose id an earlier story already uses (dependsOn could not tell
 * them apart). Context blocks and unknown keys are kept.
 */
export function draftFrom(initial: Prd): Prd {
  const seen = new Set<string>();
  // A new id must not take one that a later story of the initial PRD already has.
  const written = initial.stories.map((story) => story.id);
  let draft: Prd = { ...initial, format: "smith", keyOrder: [], stories: [] };
  for (const story of initial.stories) {
    const id =
      story.id.trim() === "" || seen.has(story.id) ? nextStoryId(draft, new Set([...written, ...seen])) : story.id;
    seen.add(id);
    draft = { ...draft, stories: [...draft.stories, { ...story, id, keyOrder: [] }] };
  }
  return draft;
}

/** What would be written: blank list entries dropped, everything else as typed. */
export function finalPrd(draft: Prd): Prd {
  const keep = (items: string[]): string[] => items.filter((item) => item.trim() !== "");
  return {
    ...draft,
    goals: keep(draft.goals),
    nonGoals: keep(draft.nonGoals),
    qualityGates: keep(draft.qualityGates),
    stories: draft.stories.map((story) => ({
      ...story,
      acceptanceCriteria: keep(story.acceptanceCriteria),
      dependsOn: keep(story.dependsOn),
    })),
  };
}

/** The next free id in the US-001 series, after the highest one in use. */
export function nextStoryId(prd: Prd, taken: ReadonlySet<string> = new Set()): string {
  const ids = new Set([...prd.stories.map((story) => story.id), ...taken]);
  let highest = 0;
  for (const id of ids) {
    const match = /^US-(\d+)$/.exec(id);
    if (match?.[1] !== undefined) highest = Math.max(highest, Number(match[1]));
  }
  let n = highest + 1;
  while (ids.has(storyId(n))) n++;
  return storyId(n);
}

function storyId(n: number): string {
  return `${STORY_ID_PREFIX}${String(n).padStart(3, "0")}`;
}

export function newStory(id: string): PrdStory {
  return {
    id,
    title: "",
    description: "",
    acceptanceCriteria: [],
    status: "open",
    dependsOn: [],
    extra: {},
    keyOrder: [],
  };
}

export function addStory(prd: Prd): Prd {
  return { ...prd, stories: [...prd.stories, newStory(nextStoryId(prd))] };
}

/** Removes a story and every dependsOn entry naming it (a dangling dependency would be an error). */
export function removeStory(prd: Prd, index: number): Prd {
  const removed = prd.stories[index];
  if (removed === undefined) return prd;
  const stillUsed = prd.stories.some((story, i) => i !== index && story.id === removed.id);
  return {
    ...prd,
    stories: prd.stories
      .filter((_, i) => i !== index)
      .map((story) =>
        stillUsed ? story : { ...story, dependsOn: story.dependsOn.filter((dep) => dep !== removed.id) },
      ),
  };
}

export function updateStory(prd: Prd, index: number, change: (story: PrdStory) => PrdStory): Prd {
  const story = prd.stories[index];
  if (story === undefined) return prd;
  return { ...prd, stories: prd.stories.map((s, i) => (i === index ? change(s) : s)) };
}

/** Sets entry `index`, appending when it is one past the end (typing into an empty list). */
export function setEntry(items: readonly string[], index: number, value: string): string[] {
  const next = [...items];
  if (index > next.length) return next;
  next[index] = value;
  return next;
}

export function insertEntry(items: readonly string[], index: number): string[] {
  return [...items.slice(0, index), "", ...items.slice(index)];
}

export function removeEntry(items: readonly string[], index: number): string[] {
  return items.filter((_, i) => i !== index);
}

/** Adds `id` to `dependsOn` when absent, removes it when present. */
export function toggleDependency(story: PrdStory, id: string): PrdStory {
  const dependsOn = story.dependsOn.includes(id)
    ? story.dependsOn.filter((dep) => dep !== id)
    : [...story.dependsOn, id];
  return { ...story, dependsOn };
}

/**
 * What a story's dependency picker offers: the other stories' ids in document order, then any
 * id it already depends on that is not a story (so that an unknown dependency can be removed).
 */
export function dependencyOptions(prd: Prd, index: number): string[] {
  const story = prd.stories[index];
  if (story === undefined) return [];
  const others = prd.stories.filter((s, i) => i !== index && s.id.trim() !== "" && s.id !== story.id).map((s) => s.id);
  const options = [...new Set(others)];
  for (const dep of story.dependsOn) if (!options.includes(dep)) options.push(dep);
  return options;
}
