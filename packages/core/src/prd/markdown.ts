/**
 * Markdown export and import of a PRD that round-trip: prdFromMarkdown(prdToMarkdown(p)) equals p.
 *
 * The body is for people (see markdownBody.ts). What it cannot show — the source format, key
 * order, extra keys, timestamps, context blocks, and any text the body would not read back
 * exactly (a title with a newline, a description holding a heading) — goes into a ```json block
 * under `## Metadata` at the end. The block is written only when needed, so a hand-written PRD
 * exports to plain Markdown. On import the block wins over the body for the values it overrides:
 * edit odd text in the block, everything else in the body.
 */
import { z } from "zod";
import { SmithError, tooLarge, utf8Length } from "../errors.ts";
import { LIMITS } from "../limits.ts";
import { readBody, renderBody, type ShownPrd, type ShownStory } from "./markdownBody.ts";
import { Prd, PrdFormat, PrdStory, PrdStoryStatus } from "./model.ts";
import { PrdContext } from "./shapes.ts";

const JsonObject = z.record(z.string(), z.unknown());

/** Story values whose shown form reads back differently; null removes an optional value. */
const StoryOverrides = z
  .object({
    id: z.string(),
    title: z.string(),
    status: PrdStoryStatus,
    dependsOn: z.array(z.string()),
    description: z.string(),
    acceptanceCriteria: z.array(z.string()),
    priority: z.number().nullable(),
    notes: z.string().nullable(),
  })
  .partial();

const StoryMetadata = PrdStory.pick({ createdAt: true, updatedAt: true, startedAt: true, completedAt: true })
  .partial()
  .extend({
    /** The id as the body shows it: pairs this entry with its story (first unused match). */
    id: z.string(),
    keyOrder: z.array(z.string()).optional(),
    extra: JsonObject.optional(),
    overrides: StoryOverrides.optional(),
  });
type StoryMetadata = z.infer<typeof StoryMetadata>;

const MarkdownMetadata = PrdContext.extend({
  format: PrdFormat.optional(),
  branchName: z.string().optional(),
  keyOrder: z.array(z.string()).optional(),
  extra: JsonObject.optional(),
  overrides: Prd.pick({ project: true, overview: true, goals: true, nonGoals: true, qualityGates: true })
    .partial()
    .optional(),
  stories: z.array(StoryMetadata).optional(),
});
type MarkdownMetadata = z.infer<typeof MarkdownMetadata>;

const SHOWN_STORY_KEYS = [
  "id",
  "title",
  "status",
  "dependsOn",
  "description",
  "acceptanceCriteria",
  "priority",
  "notes",
] as const;
const SHOWN_PRD_KEYS = ["project", "overview", "goals", "nonGoals", "qualityGates"] as const;
const TIMESTAMP_KEYS = ["createdAt", "updatedAt", "startedAt", "completedAt"] as const;

export function prdToMarkdown(prd: Prd): string {
  const body = renderBody(prd);
  // Read the body back as an importer would; whatever differs from the model goes in the block.
  const shown = readBody(body);
  const metadata = metadataFor(prd, shown);
  if (Object.keys(metadata).length === 0) return body;
  return [
    body,
    "## Metadata",
    "",
    "<!-- Written by Smith: what the sections above cannot show. Edit those sections; keep this block. -->",
    "",
    "```json",
    JSON.stringify(metadata, null, 2),
    "```",
    "",
  ].join("\n");
}

/** Imports Markdown written by prdToMarkdown or by hand (a smith PRD). Throws invalid_argument. */
export function prdFromMarkdown(markdown: string): Prd {
  const bytes = utf8Length(markdown);
  if (bytes > LIMITS.prdBytes) throw tooLarge("prd", LIMITS.prdBytes, bytes);
  const shown = readBody(markdown);
  if (shown.stories.length === 0) {
    throw invalid(
      "stories",
      "PRD Markdown has no stories: add `## Stories` with a `### US-001: Title` heading per story",
    );
  }
  const metadata = shown.metadata === undefined ? {} : readMetadata(shown.metadata);
  const { format, branchName, keyOrder, extra, overrides, stories: storyMetadata, ...context } = metadata;
  const unused = [...(storyMetadata ?? [])];
  return {
    format: format ?? "smith",
    project: overrides?.project ?? shown.project,
    overview: overrides?.overview ?? shown.overview,
    ...(branchName === undefined ? {} : { branchName }),
    goals: overrides?.goals ?? shown.goals,
    nonGoals: overrides?.nonGoals ?? shown.nonGoals,
    qualityGates: overrides?.qualityGates ?? shown.qualityGates,
    ...context,
    stories: shown.stories.map((story) => {
      const index = unused.findIndex((entry) => entry.id === story.id);
      const [entry] = index < 0 ? [] : unused.splice(index, 1);
      return storyFrom(story, entry);
    }),
    extra: extra ?? {},
    keyOrder: keyOrder ?? [],
  };
}

function storyFrom(shown: ShownStory, entry: StoryMetadata | undefined): PrdStory {
  const story: PrdStory = { ...shown, extra: entry?.extra ?? {}, keyOrder: entry?.keyOrder ?? [] };
  for (const key of TIMESTAMP_KEYS) {
    const value = entry?.[key];
    if (value !== undefined) story[key] = value;
  }
  const overrides = entry?.overrides ?? {};
  const { priority, notes, ...rest } = overrides;
  Object.assign(story, rest);
  if (priority === null) delete story.priority;
  else if (priority !== undefined) story.priority = priority;
  if (notes === null) delete story.notes;
  else if (notes !== undefined) story.notes = notes;
  return story;
}

function metadataFor(prd: Prd, shown: ShownPrd): MarkdownMetadata {
  const overrides = differences(SHOWN_PRD_KEYS, prd, shown);
  const context = PrdContext.parse(prd);
  const stories = prd.stories.map((story, i) => storyMetadataFor(story, shown.stories[i]));
  // Entries pair with stories by shown id, in order; with any entry needed, writing all of them
  // keeps that pairing right when ids repeat.
  const storiesNeeded = stories.some((entry) => Object.keys(entry).length > 1);
  return {
    ...(prd.format === "smith" ? {} : { format: prd.format }),
    ...(prd.branchName === undefined ? {} : { branchName: prd.branchName }),
    ...context,
    ...(prd.keyOrder.length === 0 ? {} : { keyOrder: prd.keyOrder }),
    ...(Object.keys(prd.extra).length === 0 ? {} : { extra: prd.extra }),
    ...(Object.keys(overrides).length === 0 ? {} : { overrides }),
    ...(storiesNeeded ? { stories } : {}),
  };
}

function storyMetadataFor(story: PrdStory, shown: ShownStory | undefined): StoryMetadata {
  const overrides: Record<string, unknown> = shown === undefined ? {} : differences(SHOWN_STORY_KEYS, story, shown);
  // JSON has no undefined: an optional value the body invents is removed with null.
  for (const key of ["priority", "notes"] as const) {
    if (Object.hasOwn(overrides, key) && overrides[key] === undefined) overrides[key] = null;
  }
  const entry: StoryMetadata = { id: shown?.id ?? story.id };
  for (const key of TIMESTAMP_KEYS) {
    const value = story[key];
    if (value !== undefined) entry[key] = value;
  }
  if (story.keyOrder.length > 0) entry.keyOrder = story.keyOrder;
  if (Object.keys(story.extra).length > 0) entry.extra = story.extra;
  if (Object.keys(overrides).length > 0) entry.overrides = StoryOverrides.parse(overrides);
  return entry;
}

/** The model's values for `keys` where the shown value differs. */
function differences<K extends string>(
  keys: readonly K[],
  model: Partial<Record<K, unknown>>,
  shown: Partial<Record<K, unknown>>,
): Record<string, unknown> {
  return Object.fromEntries(
    keys.filter((key) => JSON.stringify(model[key]) !== JSON.stringify(shown[key])).map((key) => [key, model[key]]),
  );
}

function readMetadata(text: string): MarkdownMetadata {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(
      "metadata",
      `the Metadata block is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const parsed = MarkdownMetadata.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: ["metadata", ...issue.path.map(String)].join("."),
      message: issue.message,
    }));
    throw new SmithError(
      "invalid_argument",
      `the Metadata block is malformed: ${issues[0]?.path}: ${issues[0]?.message}`,
      {
        field: "prd",
        issues,
      },
    );
  }
  return parsed.data;
}

function invalid(path: string, message: string): SmithError {
  return new SmithError("invalid_argument", message, { field: "prd", issues: [{ path, message }] });
}
