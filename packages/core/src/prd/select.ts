/** Which story a loop works on next, and how far the PRD has come. */
import type { Prd, PrdStory } from "./model.ts";

/**
 * The story to work on next: one not done whose dependsOn are all done (a dependency on an id
 * that is not in the PRD never counts as done). An in_progress story comes first, so a restarted
 * loop resumes rather than starting a second story. Then the lowest priority number (ralph's
 * convention); stories without a priority (smith PRDs) come after those with one. Ties keep
 * document order, which is the author's order. Undefined when nothing is ready.
 */
export function nextReadyStory(prd: Prd): PrdStory | undefined {
  const done = new Set(prd.stories.filter((story) => story.status === "done").map((story) => story.id));
  const ready = prd.stories.filter((story) => story.status !== "done" && story.dependsOn.every((dep) => done.has(dep)));
  const resumed = ready.find((story) => story.status === "in_progress");
  if (resumed !== undefined) return resumed;
  let best: PrdStory | undefined;
  for (const story of ready) {
    if (best === undefined || rank(story) < rank(best)) best = story;
  }
  return best;
}

/** Stories done out of all stories. */
export function storyProgress(prd: Prd): { done: number; total: number } {
  return { done: prd.stories.filter((story) => story.status === "done").length, total: prd.stories.length };
}

function rank(story: PrdStory): number {
  return story.priority ?? Number.POSITIVE_INFINITY;
}
