/**
 * Reading PRD documents into the model. Reading checks size, JSON and shape only: a PRD with a
 * blank project or a dependency cycle still reads (validatePrd reports it), so that tools can
 * load, show and repair a PRD that is not ready yet.
 */
import { SmithError, tooLarge, utf8Length } from "../errors.ts";
import { KiB, LIMITS } from "../limits.ts";
import { diagnostic, type PrdDiagnostic } from "./diagnostics.ts";
import { PrdStoryStatus, type Prd, type PrdFormat, type PrdStory } from "./model.ts";
import { compactKeyOrder } from "./serialize.ts";
import {
  CONTEXT_KEYS,
  PrdContext,
  PrdStoryOptional,
  SHAPES,
  STORY_OPTIONAL_KEYS,
  detectFormat,
  joinPath,
  storyPath,
} from "./shapes.ts";

export type PrdRead = { ok: true; prd: Prd } | { ok: false; diagnostics: PrdDiagnostic[]; error: SmithError };

/** Parses PRD JSON text (either shape). Throws too_large over LIMITS.prdBytes, else invalid_argument. */
export function parsePrd(text: string): Prd {
  const read = readPrdText(text);
  if (!read.ok) throw read.error;
  return read.prd;
}

/** Parses an already-decoded PRD document (either shape). Throws invalid_argument. */
export function parsePrdObject(value: unknown): Prd {
  const read = readPrdObject(value);
  if (!read.ok) throw read.error;
  return read.prd;
}

/** parsePrd without throwing: the problems come back as diagnostics for validatePrd. */
export function readPrdText(text: string): PrdRead {
  const bytes = utf8Length(text);
  if (bytes > LIMITS.prdBytes) {
    return { ok: false, diagnostics: [tooLargeDiagnostic(bytes)], error: tooLarge("prd", LIMITS.prdBytes, bytes) };
  }
  let value: unknown;
  try {
    // Editors on Windows save JSON with a byte-order mark, which JSON.parse rejects.
    value = JSON.parse(text.startsWith("\uFEFF") ? text.slice(1) : text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return failed([
      diagnostic(
        "prd_invalid_json",
        "",
        `PRD is not valid JSON: ${reason}`,
        "Fix the JSON syntax at the position named (`jq . prd.json` shows it), or write the PRD as Markdown.",
      ),
    ]);
  }
  return readPrdObject(value);
}

/** parsePrdObject without throwing. */
export function readPrdObject(value: unknown): PrdRead {
  if (!isRecord(value)) {
    return failed([unknownFormat(`PRD must be a JSON object; got ${describe(value)}`)]);
  }
  const detection = detectFormat(value);
  if (detection.format === undefined) return failed([unknownFormat(`PRD ${detection.reason}`)]);
  const format = detection.format;
  const shape = SHAPES[format];
  const fields = new FieldReader(value, []);

  const project = fields.string("project", "project");
  const overview = fields.string(shape.overviewKey, shape.overviewKey);
  const branchName = fields.optionalString("branchName", "branchName");
  const goals = fields.stringList("goals", "goals");
  const nonGoals = fields.stringList("nonGoals", "nonGoals");
  const qualityGates = fields.stringList("qualityGates", "qualityGates");

  const stories: PrdStory[] = [];
  const rawStories = value[shape.storiesKey];
  if (rawStories !== undefined && !Array.isArray(rawStories)) {
    fields.problem(shape.storiesKey, `${shape.storiesKey} must be an array of stories; got ${describe(rawStories)}`);
  } else if (Array.isArray(rawStories)) {
    rawStories.forEach((raw: unknown, index) => {
      const story = readStory(format, raw, index, fields.problems);
      if (story !== undefined) stories.push(story);
    });
  }
  if (fields.problems.length > 0) return failed(fields.problems);

  const context = keepWellFormed(value, CONTEXT_KEYS, (key, v) => PrdContext.shape[key].safeParse(v).success);
  const prd: Prd = {
    format,
    project,
    overview,
    ...(branchName === undefined ? {} : { branchName }),
    goals,
    nonGoals,
    qualityGates,
    ...PrdContext.parse(context.kept),
    stories,
    extra: extraOf(value, shape.topKeys, context.rejected),
    keyOrder: Object.keys(value),
  };
  return { ok: true, prd: compactKeyOrder(prd) };
}

export function tooLargeDiagnostic(bytes: number): PrdDiagnostic {
  return diagnostic(
    "prd_too_large",
    "",
    `PRD is ${bytes} bytes; the limit is ${LIMITS.prdBytes / KiB} KiB (${LIMITS.prdBytes} bytes)`,
    "Split the PRD into several loops, or move long reference material into files the stories point to.",
  );
}

function readStory(format: PrdFormat, raw: unknown, index: number, problems: PrdDiagnostic[]): PrdStory | undefined {
  if (!isRecord(raw)) {
    problems.push(
      diagnostic(
        "prd_invalid_field",
        storyPath(format, index),
        `a story must be an object; got ${describe(raw)}`,
        "Write each story as { id, title, description, acceptanceCriteria, ... }.",
      ),
    );
    return undefined;
  }
  const fields = new FieldReader(raw, problems);
  const path = (key: string): string => storyPath(format, index, key);
  const id = fields.string("id", path("id"));
  const title = fields.string("title", path("title"));
  const description = fields.string("description", path("description"));
  const acceptanceCriteria = fields.stringList("acceptanceCriteria", path("acceptanceCriteria"));
  const dependsOn = fields.stringList("dependsOn", path("dependsOn"));
  const status = format === "smith" ? fields.status(path("status")) : fields.passes(path("passes"));
  const optional = keepWellFormed(
    raw,
    STORY_OPTIONAL_KEYS,
    (key, v) => PrdStoryOptional.shape[key].safeParse(v).success,
  );
  return {
    id,
    title,
    description,
    acceptanceCriteria,
    status,
    dependsOn,
    ...PrdStoryOptional.parse(optional.kept),
    extra: extraOf(raw, SHAPES[format].storyKeys, optional.rejected),
    keyOrder: Object.keys(raw),
  };
}

/** Reads typed fields of one JSON object, collecting every problem rather than stopping at the first. */
class FieldReader {
  readonly doc: Record<string, unknown>;
  readonly problems: PrdDiagnostic[];

  constructor(doc: Record<string, unknown>, problems: PrdDiagnostic[]) {
    this.doc = doc;
    this.problems = problems;
  }

  problem(path: string, message: string, suggestion = "Fix the value's type; see the PRD format in the docs."): void {
    this.problems.push(diagnostic("prd_invalid_field", path, message, suggestion));
  }

  /** A missing string reads as "", which validation reports where it matters (project, id, title). */
  string(key: string, path: string): string {
    return this.optionalString(key, path) ?? "";
  }

  optionalString(key: string, path: string): string | undefined {
    const value = this.doc[key];
    if (value === undefined || typeof value === "string") return value;
    this.problem(path, `${key} must be a string; got ${describe(value)}`);
    return undefined;
  }

  stringList(key: string, path: string): string[] {
    const value = this.doc[key];
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      this.problem(path, `${key} must be an array of strings; got ${describe(value)}`);
      return [];
    }
    const out: string[] = [];
    value.forEach((item: unknown, i) => {
      if (typeof item === "string") out.push(item);
      else this.problem(joinPath(path, i), `${key} entries must be strings; got ${describe(item)}`);
    });
    return out;
  }

  status(path: string): PrdStory["status"] {
    const value = this.doc["status"];
    if (value === undefined) return "open";
    const parsed = PrdStoryStatus.safeParse(value);
    if (parsed.success) return parsed.data;
    this.problem(
      path,
      `status must be "open", "in_progress" or "done"; got ${JSON.stringify(value)}`,
      'Use "open" for not started, "in_progress" for the story being worked on, "done" when it passes.',
    );
    return "open";
  }

  /** Ralph's `passes`: true is done; false cannot say whether work started, so it reads as open. */
  passes(path: string): PrdStory["status"] {
    const value = this.doc["passes"];
    if (value === undefined || value === false) return "open";
    if (value === true) return "done";
    this.problem(path, `passes must be true or false; got ${describe(value)}`);
    return "open";
  }
}

/** Splits the present keys of `doc` among `keys` into well-formed (kept) and not (rejected). */
function keepWellFormed<K extends string>(
  doc: Record<string, unknown>,
  keys: readonly K[],
  wellFormed: (key: K, value: unknown) => boolean,
): { kept: Record<string, unknown>; rejected: Set<string> } {
  const kept: Array<[string, unknown]> = [];
  const rejected = new Set<string>();
  for (const key of keys) {
    if (!Object.hasOwn(doc, key)) continue;
    if (wellFormed(key, doc[key])) kept.push([key, doc[key]]);
    else rejected.add(key);
  }
  return { kept: Object.fromEntries(kept), rejected };
}

/**
 * The keys the model does not hold, in document order. Object.fromEntries defines own properties,
 * so a `__proto__` key in a PRD stays data and never reaches a prototype.
 */
function extraOf(
  doc: Record<string, unknown>,
  known: readonly string[],
  rejected: Set<string>,
): Record<string, unknown> {
  const knownSet = new Set(known);
  return Object.fromEntries(Object.entries(doc).filter(([key]) => !knownSet.has(key) || rejected.has(key)));
}

function unknownFormat(message: string): PrdDiagnostic {
  return diagnostic(
    "prd_unknown_format",
    "",
    message,
    "Write a smith PRD { project, overview, qualityGates, stories: [...] } or a ralph PRD { project, branchName, description, userStories: [...] }.",
  );
}

function failed(diagnostics: PrdDiagnostic[]): PrdRead {
  const [first] = diagnostics;
  const where = first === undefined || first.path === "" ? "" : `${first.path}: `;
  const more = diagnostics.length > 1 ? ` (and ${diagnostics.length - 1} more)` : "";
  const error = new SmithError("invalid_argument", `invalid PRD: ${where}${first?.message ?? "unreadable"}${more}`, {
    field: "prd",
    issues: diagnostics.map((d) => ({ path: d.path, message: d.message })),
  });
  return { ok: false, diagnostics, error };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
