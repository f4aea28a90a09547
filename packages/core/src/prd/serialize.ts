/**
 * Writing the model back in the shape it was read from. Keys keep the order they were read in,
 * so after a loop marks a story done the user's PRD diff is that story's status, not a
 * reshuffled file.
 */
import type { Prd, PrdFormat, PrdStory } from "./model.ts";
import { SHAPES } from "./shapes.ts";

/** Pretty JSON (2-space indent, trailing newline) in the PRD's own shape. */
export function serializePrd(prd: Prd): string {
  return `${JSON.stringify(prdToDocument(prd), null, 2)}\n`;
}

/** The PRD as a JSON document in its own shape, e.g. for a loop spec that carries it inline. */
export function prdToDocument(prd: Prd): Record<string, unknown> {
  const shape = SHAPES[prd.format];
  // The ralph shape has no goals or gates; write them only when there is something to keep.
  const list = (key: string, items: string[]): string[] | undefined =>
    prd.format === "smith" || items.length > 0 || prd.keyOrder.includes(key) ? items : undefined;
  const values: Record<string, unknown> = {
    version: prd.version,
    project: prd.project,
    branchName: prd.branchName,
    [shape.overviewKey]: prd.overview,
    goals: list("goals", prd.goals),
    nonGoals: list("nonGoals", prd.nonGoals),
    successMetrics: prd.successMetrics,
    openQuestions: prd.openQuestions,
    stack: prd.stack,
    routes: prd.routes,
    uiNotes: prd.uiNotes,
    dataModel: prd.dataModel,
    importFormat: prd.importFormat,
    rules: prd.rules,
    qualityGates: list("qualityGates", prd.qualityGates),
    [shape.storiesKey]: prd.stories.map((story) => storyDocument(prd.format, story)),
  };
  return arrange(shape.topKeys, values, prd.extra, prd.keyOrder);
}

/**
 * The PRD with each keyOrder emptied where it does not change what serialize writes, so the
 * model (and a Markdown export's metadata) carries a key order only when the document needs it.
 */
export function compactKeyOrder(prd: Prd): Prd {
  const stories = prd.stories.map((story) => {
    const bare = { ...story, keyOrder: [] };
    return sameKeys(storyDocument(prd.format, bare), storyDocument(prd.format, story)) ? bare : story;
  });
  const compacted = { ...prd, stories };
  const bare = { ...compacted, keyOrder: [] };
  return sameKeys(prdToDocument(bare), prdToDocument(compacted)) ? bare : compacted;
}

function sameKeys(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  return keysA.length === keysB.length && keysA.every((key, i) => key === keysB[i]);
}

function storyDocument(format: PrdFormat, story: PrdStory): Record<string, unknown> {
  const values: Record<string, unknown> = {
    id: story.id,
    title: story.title,
    description: story.description,
    acceptanceCriteria: story.acceptanceCriteria,
    priority: story.priority,
    notes: story.notes,
    createdAt: story.createdAt,
    updatedAt: story.updatedAt,
    startedAt: story.startedAt,
    completedAt: story.completedAt,
  };
  if (format === "smith") {
    values["status"] = story.status;
    values["dependsOn"] = story.dependsOn;
  } else {
    // Ralph cannot say "in progress": an unfinished story is `passes: false` either way.
    values["passes"] = story.status === "done";
    if (story.dependsOn.length > 0 || story.keyOrder.includes("dependsOn")) values["dependsOn"] = story.dependsOn;
  }
  return arrange(SHAPES[format].storyKeys, values, story.extra, story.keyOrder);
}

/**
 * Merges known values over extras and orders the keys: those read keep their order; a new known
 * key goes right after the last key the shape writes before it (where a fresh document has it);
 * new extras go last. Undefined known values are left out (JSON has no undefined).
 */
function arrange(
  canonical: readonly string[],
  values: Record<string, unknown>,
  extra: Record<string, unknown>,
  keyOrder: readonly string[],
): Record<string, unknown> {
  const present = new Map<string, unknown>(Object.entries(extra));
  for (const key of canonical) {
    const value = values[key];
    if (value !== undefined) present.set(key, value);
  }
  const order = [...new Set(keyOrder)].filter((key) => present.has(key));
  const rank = new Map(canonical.map((key, i) => [key, i]));
  canonical.forEach((key, keyRank) => {
    if (!present.has(key) || order.includes(key)) return;
    let at = 0;
    order.forEach((other, i) => {
      if ((rank.get(other) ?? Number.POSITIVE_INFINITY) < keyRank) at = i + 1;
    });
    order.splice(at, 0, key);
  });
  for (const key of Object.keys(extra)) if (!order.includes(key)) order.push(key);
  // Object.fromEntries defines own properties: an extra `__proto__` key stays a plain key.
  return Object.fromEntries(order.map((key) => [key, present.get(key)]));
}
