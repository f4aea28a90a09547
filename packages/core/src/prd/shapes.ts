/**
 * The two PRD document shapes: which keys each knows, in the order a fresh document writes them,
 * and how to tell them apart. Parsing and serializing both read this table, so a key is known
 * to both or to neither (a key known only to the reader would be dropped on write-back).
 */
import { Prd, PrdStory, type PrdFormat } from "./model.ts";

/**
 * Context blocks of the smith shape, accepted in either shape. They are kept as written; one with
 * an unexpected form moves to `extra` (and validation warns) rather than failing the whole PRD,
 * which is how the Go implementation rejected real PRDs.
 */
export const CONTEXT_KEYS = [
  "version",
  "successMetrics",
  "openQuestions",
  "stack",
  "routes",
  "uiNotes",
  "dataModel",
  "importFormat",
  "rules",
] as const;
export const PrdContext = Prd.pick({
  version: true,
  successMetrics: true,
  openQuestions: true,
  stack: true,
  routes: true,
  uiNotes: true,
  dataModel: true,
  importFormat: true,
  rules: true,
}).partial();

/** Optional story keys handled like context blocks: kept when well-formed, else moved to `extra`. */
export const STORY_OPTIONAL_KEYS = ["priority", "notes", "createdAt", "updatedAt", "startedAt", "completedAt"] as const;
export const PrdStoryOptional = PrdStory.pick({
  priority: true,
  notes: true,
  createdAt: true,
  updatedAt: true,
  startedAt: true,
  completedAt: true,
}).partial();

export interface PrdShape {
  /** Where the stories live. */
  storiesKey: "stories" | "userStories";
  /** Where the model's `overview` lives. */
  overviewKey: "overview" | "description";
  /** Known top-level keys, in the order a fresh document writes them. */
  topKeys: readonly string[];
  /** Known story keys, in the order a fresh document writes them. */
  storyKeys: readonly string[];
}

export const SHAPES: Record<PrdFormat, PrdShape> = {
  smith: {
    storiesKey: "stories",
    overviewKey: "overview",
    topKeys: [
      "version",
      "project",
      "branchName",
      "overview",
      "goals",
      "nonGoals",
      "successMetrics",
      "openQuestions",
      "stack",
      "routes",
      "uiNotes",
      "dataModel",
      "importFormat",
      "rules",
      "qualityGates",
      "stories",
    ],
    storyKeys: ["id", "title", "status", "dependsOn", "description", "acceptanceCriteria", ...STORY_OPTIONAL_KEYS],
  },
  ralph: {
    storiesKey: "userStories",
    overviewKey: "description",
    topKeys: [
      "version",
      "project",
      "branchName",
      "description",
      "goals",
      "nonGoals",
      "successMetrics",
      "openQuestions",
      "stack",
      "routes",
      "uiNotes",
      "dataModel",
      "importFormat",
      "rules",
      "qualityGates",
      "userStories",
    ],
    storyKeys: [
      "id",
      "title",
      "description",
      "acceptanceCriteria",
      "priority",
      "passes",
      "notes",
      "dependsOn",
      "createdAt",
      "updatedAt",
      "startedAt",
      "completedAt",
    ],
  },
};

/** Keys that only one shape writes, used when a document has no stories array to go by. */
const SMITH_MARKERS = ["overview", "qualityGates", "goals", "nonGoals"];
const RALPH_MARKERS = ["branchName", "description"];

export type FormatDetection = { format: PrdFormat } | { format: undefined; reason: string };

export function detectFormat(doc: Record<string, unknown>): FormatDetection {
  const smith = Object.hasOwn(doc, "stories");
  const ralph = Object.hasOwn(doc, "userStories");
  if (smith && ralph) {
    return { format: undefined, reason: "has both `stories` (smith shape) and `userStories` (ralph shape)" };
  }
  if (smith) return { format: "smith" };
  if (ralph) return { format: "ralph" };
  // Without stories the document is still recognisable by its other keys; validation then
  // reports the missing stories, which says more than "unknown format".
  if (SMITH_MARKERS.some((key) => Object.hasOwn(doc, key))) return { format: "smith" };
  if (RALPH_MARKERS.some((key) => Object.hasOwn(doc, key))) return { format: "ralph" };
  return {
    format: undefined,
    reason: "has no `stories` (smith shape) or `userStories` (ralph shape) array",
  };
}

/** Path of a story field in the document the user edits, e.g. `userStories[2].passes`. */
export function storyPath(format: PrdFormat, index: number, ...rest: Array<string | number>): string {
  return joinPath(SHAPES[format].storiesKey, index, ...rest);
}

/** `joinPath("stories", 2, "dependsOn", 0)` → `stories[2].dependsOn[0]`. */
export function joinPath(...segments: Array<string | number>): string {
  let path = "";
  for (const segment of segments) {
    if (typeof segment === "number") path += `[${segment}]`;
    else path += path === "" ? segment : `.${segment}`;
  }
  return path;
}
