/**
 * The PRD model: one normalised shape for the two PRD documents in use (Smith / iannuttall
 * `stories[]` and snarktank/ralph `userStories[]`). The model remembers which document it was
 * read from (`format`, `keyOrder`, `extra`) so that writing it back changes only what the loop
 * changed: a status flip is a one-line diff in the user's repository, not a reformatted file.
 */
import { z } from "zod";

/** Which document shape a PRD was read from, and is written back in. */
export const PrdFormat = z.enum(["smith", "ralph"]);
export type PrdFormat = z.infer<typeof PrdFormat>;

/** A story's state. The ralph shape only has `passes`, so it stores open/in_progress as `false`. */
export const PrdStoryStatus = z.enum(["open", "in_progress", "done"]);
export type PrdStoryStatus = z.infer<typeof PrdStoryStatus>;

const JsonObject = z.record(z.string(), z.unknown());

/** ISO 8601 instant. `null` is kept because generated PRDs write "not yet" as null. */
export const PrdTimestamp = z.string().nullable();
export type PrdTimestamp = z.infer<typeof PrdTimestamp>;

/**
 * Free-form context blocks (uiNotes, rules, successMetrics, openQuestions): real PRDs write them
 * as one string or as a list, sometimes of objects. They are kept as written.
 */
export const PrdNotes = z.union([z.string(), z.array(z.union([z.string(), JsonObject]))]);
export type PrdNotes = z.infer<typeof PrdNotes>;

/** `stack`: a sentence, a list of technologies, or a map such as `{ "frontend": "React" }`. */
export const PrdStack = z.union([z.string(), z.array(z.string()), JsonObject]);
export type PrdStack = z.infer<typeof PrdStack>;

/** `routes[]`: `"/settings"` or `{ "path": "/settings", "purpose": "..." }`. */
export const PrdRoute = z.union([z.string(), JsonObject]);
export type PrdRoute = z.infer<typeof PrdRoute>;

/** A data-model field: `"email: string"` or `{ "name": "email", "type": "string" }`. */
export const PrdDataField = z.union([z.string(), JsonObject]);
export type PrdDataField = z.infer<typeof PrdDataField>;

/** One `dataModel[]` entry, named by `name` or by `entity` (both spellings occur in real PRDs). */
export const PrdDataModelEntry = z
  .looseObject({
    name: z.string().optional(),
    entity: z.string().optional(),
    /** A list of fields, or a map of field name to type. */
    fields: z.union([z.array(PrdDataField), JsonObject]).optional(),
  })
  .refine((entry) => entry.name !== undefined || entry.entity !== undefined, {
    message: "a dataModel entry needs a name or an entity",
  });
export type PrdDataModelEntry = z.infer<typeof PrdDataModelEntry>;

/** `importFormat`: a sentence, or an object describing columns / an example. */
export const PrdImportFormat = z.union([z.string(), JsonObject]);
export type PrdImportFormat = z.infer<typeof PrdImportFormat>;

/** `version`: written as `1` or `"1.0"`. */
export const PrdVersion = z.union([z.number(), z.string()]);
export type PrdVersion = z.infer<typeof PrdVersion>;

export const PrdStory = z.object({
  /** Unique within the PRD, e.g. `US-001`; `dependsOn` refers to it. */
  id: z.string(),
  title: z.string(),
  description: z.string(),
  /** What the agent must make true; each item should be checkable by a command or a reader. */
  acceptanceCriteria: z.array(z.string()),
  status: PrdStoryStatus,
  /** Ids of stories that must be done first. Always empty for ralph documents without the key. */
  dependsOn: z.array(z.string()),
  /** Lower is more important (ralph's convention). Absent on smith stories unless written. */
  priority: z.number().optional(),
  /** Ralph's free-text notes, where agents leave hints for the next iteration. */
  notes: z.string().optional(),
  createdAt: PrdTimestamp.optional(),
  updatedAt: PrdTimestamp.optional(),
  startedAt: PrdTimestamp.optional(),
  completedAt: PrdTimestamp.optional(),
  /** Keys this model does not know, kept verbatim (also a known key whose value had an unexpected form). */
  extra: JsonObject,
  /** The story's keys in the order they were read; empty when that is the order Smith writes. */
  keyOrder: z.array(z.string()),
});
export type PrdStory = z.infer<typeof PrdStory>;

export const Prd = z.object({
  format: PrdFormat,
  version: PrdVersion.optional(),
  project: z.string(),
  /** Smith `overview`; ralph `description`. */
  overview: z.string(),
  /** Ralph's feature branch (`ralph/<feature>`). */
  branchName: z.string().optional(),
  goals: z.array(z.string()),
  nonGoals: z.array(z.string()),
  /** Shell commands that must pass before a story counts as done. Ralph documents have none. */
  qualityGates: z.array(z.string()),
  stack: PrdStack.optional(),
  routes: z.array(PrdRoute).optional(),
  uiNotes: PrdNotes.optional(),
  dataModel: z.array(PrdDataModelEntry).optional(),
  importFormat: PrdImportFormat.optional(),
  rules: PrdNotes.optional(),
  successMetrics: PrdNotes.optional(),
  openQuestions: PrdNotes.optional(),
  stories: z.array(PrdStory),
  /** Top-level keys this model does not know, kept verbatim (real PRDs carry extra keys). */
  extra: JsonObject,
  /** Top-level keys in the order they were read; empty when that is the order Smith writes. */
  keyOrder: z.array(z.string()),
});
export type Prd = z.infer<typeof Prd>;
