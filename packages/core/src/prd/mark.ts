/** Story status changes, as a loop records them in the PRD. */
import { SmithError, assertNever } from "../errors.ts";
import { PrdStoryStatus, type Prd, type PrdStory } from "./model.ts";

/**
 * A new PRD with the story's status set (the input is not changed). Smith PRDs also get their
 * timestamps: startedAt when work first starts, completedAt when done, updatedAt on every change;
 * reopening clears what no longer holds. Ralph PRDs record only `passes`, so they get none.
 * Setting the status a story already has returns the PRD unchanged, so a retried finalize step
 * does not move timestamps. Throws not_found for an unknown id.
 */
export function markStory(
  prd: Prd,
  storyId: string,
  status: PrdStoryStatus,
  at: string = new Date().toISOString(),
): Prd {
  if (!PrdStoryStatus.safeParse(status).success) {
    throw new SmithError("invalid_argument", `unknown story status ${JSON.stringify(status)}`, { field: "status" });
  }
  const index = prd.stories.findIndex((story) => story.id === storyId);
  const story = prd.stories[index];
  if (story === undefined) {
    throw new SmithError("not_found", `no story ${JSON.stringify(storyId)} in PRD ${JSON.stringify(prd.project)}`, {
      field: "storyId",
    });
  }
  if (story.status === status) return prd;
  const updated = prd.format === "smith" ? stamp({ ...story, status }, at) : { ...story, status };
  return { ...prd, stories: prd.stories.map((s, i) => (i === index ? updated : s)) };
}

function stamp(story: PrdStory, at: string): PrdStory {
  // A document that writes "not yet" as null keeps doing so; otherwise a cleared key goes away.
  const notYet = [story.createdAt, story.updatedAt, story.startedAt, story.completedAt].includes(null)
    ? null
    : undefined;
  const next: PrdStory = { ...story, updatedAt: at };
  switch (story.status) {
    case "open":
      next.startedAt = notYet;
      next.completedAt = notYet;
      break;
    case "in_progress":
      next.startedAt = story.startedAt ?? at;
      next.completedAt = notYet;
      break;
    case "done":
      next.completedAt = at;
      break;
    default:
      assertNever(story.status, "story status");
  }
  return dropUndefined(next);
}

function dropUndefined(story: PrdStory): PrdStory {
  const copy = { ...story };
  for (const key of ["startedAt", "completedAt"] as const) {
    if (copy[key] === undefined) delete copy[key];
  }
  return copy;
}
