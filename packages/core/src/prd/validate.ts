/**
 * Readiness checks: can a loop run this PRD? Validation returns a report and never throws, so the
 * CLI, the API and the PRD wizard can show every problem at once, including for input that does
 * not parse.
 *
 * Two judgement calls:
 * - A story without acceptance criteria is an error: the agent cannot show it is done, so the
 *   loop would either never finish it or mark it done unverified.
 * - No quality gates is a warning: the loop spec can supply gates, and ralph PRDs never carry
 *   them, so the PRD alone cannot tell that nothing will check the agent's work.
 */
import { utf8Length } from "../errors.ts";
import { LIMITS } from "../limits.ts";
import { diagnostic, report, type PrdDiagnostic, type PrdValidationReport } from "./diagnostics.ts";
import { Prd } from "./model.ts";
import { readPrdObject, readPrdText, tooLargeDiagnostic } from "./parse.ts";
import { serializePrd } from "./serialize.ts";
import { CONTEXT_KEYS, SHAPES, STORY_OPTIONAL_KEYS, storyPath } from "./shapes.ts";

/** Validates PRD JSON text, a decoded PRD document of either shape, or a parsed Prd model. */
export function validatePrd(input: unknown): PrdValidationReport {
  const read = readInput(input);
  if (!read.ok) return report(read.diagnostics, []);
  const errors: PrdDiagnostic[] = [];
  const warnings: PrdDiagnostic[] = [];
  checkDocument(read.prd, errors, warnings);
  checkStories(read.prd, errors, warnings);
  checkDependencies(read.prd, errors);
  return report(errors, warnings);
}

type Input = { ok: true; prd: Prd } | { ok: false; diagnostics: PrdDiagnostic[] };

function readInput(input: unknown): Input {
  if (typeof input === "string") return readPrdText(input);
  const model = Prd.safeParse(input);
  const read = model.success ? { ok: true as const, prd: model.data } : readPrdObject(input);
  if (!read.ok) return read;
  // Text was measured as given; an object is measured as it will be written back.
  let text: string;
  try {
    text = serializePrd(read.prd);
  } catch (err) {
    // An object from code can hold what JSON cannot: a BigInt, a cycle.
    const reason = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      diagnostics: [
        diagnostic(
          "prd_invalid_json",
          "",
          `PRD cannot be written as JSON: ${reason}`,
          "Keep only JSON values in the PRD.",
        ),
      ],
    };
  }
  const bytes = utf8Length(text);
  if (bytes > LIMITS.prdBytes) return { ok: false, diagnostics: [tooLargeDiagnostic(bytes)] };
  return read;
}

function checkDocument(prd: Prd, errors: PrdDiagnostic[], warnings: PrdDiagnostic[]): void {
  if (prd.project.trim() === "") {
    errors.push(
      diagnostic(
        "prd_missing_field",
        "project",
        "project is missing or blank",
        'Name the project, e.g. "project": "Invoice export".',
      ),
    );
  }
  const storiesKey = SHAPES[prd.format].storiesKey;
  if (prd.stories.length === 0) {
    errors.push(
      diagnostic(
        "prd_no_stories",
        storiesKey,
        `${storiesKey} is missing or empty: a loop would have nothing to work on`,
        "Add at least one story with an id, a title and acceptance criteria.",
      ),
    );
  }
  if (prd.qualityGates.every((gate) => gate.trim() === "")) {
    warnings.push(
      diagnostic(
        "prd_no_quality_gates",
        "qualityGates",
        "no quality gates: unless the loop spec supplies some, only the agent's word says a story is done",
        'Add shell commands that must pass, e.g. "qualityGates": ["npm test", "npm run lint"].',
      ),
    );
  }
  for (const key of CONTEXT_KEYS) {
    if (Object.hasOwn(prd.extra, key)) warnings.push(unrecognised(key));
  }
}

function checkStories(prd: Prd, errors: PrdDiagnostic[], warnings: PrdDiagnostic[]): void {
  const seen = new Map<string, number>();
  const inProgress: number[] = [];
  prd.stories.forEach((story, index) => {
    const at = (...rest: Array<string | number>): string => storyPath(prd.format, index, ...rest);
    const storyId = story.id.trim() === "" ? undefined : story.id;
    if (storyId === undefined) {
      errors.push(
        diagnostic(
          "prd_missing_field",
          at("id"),
          `story ${index + 1} has no id`,
          'Give it a unique id, e.g. "US-007"; dependsOn refers to it.',
        ),
      );
    } else {
      const first = seen.get(storyId);
      if (first === undefined) seen.set(storyId, index);
      else {
        errors.push(
          diagnostic(
            "prd_duplicate_story_id",
            at("id"),
            `story id ${storyId} is also used by ${storyPath(prd.format, first)}`,
            "Give each story its own id; dependsOn cannot tell duplicates apart.",
            storyId,
          ),
        );
      }
    }
    if (story.title.trim() === "") {
      errors.push(
        diagnostic(
          "prd_missing_field",
          at("title"),
          `story ${storyId ?? index + 1} has no title`,
          "Add a short title saying what the story delivers.",
          storyId,
        ),
      );
    }
    if (story.acceptanceCriteria.every((criterion) => criterion.trim() === "")) {
      errors.push(
        diagnostic(
          "prd_no_acceptance_criteria",
          at("acceptanceCriteria"),
          `story ${storyId ?? index + 1} has no acceptance criteria, so the agent cannot show it is done`,
          'Add checkable criteria, e.g. "acceptanceCriteria": ["GET /invoices returns 200", "npm test passes"].',
          storyId,
        ),
      );
    }
    if (story.status === "in_progress") inProgress.push(index);
    for (const key of STORY_OPTIONAL_KEYS) {
      if (Object.hasOwn(story.extra, key)) warnings.push(unrecognised(at(key), storyId));
    }
  });
  const second = inProgress[1];
  const secondStory = second === undefined ? undefined : prd.stories[second];
  if (second !== undefined && secondStory !== undefined) {
    const ids = inProgress.map((i) => prd.stories[i]?.id ?? `#${i + 1}`).join(", ");
    errors.push(
      diagnostic(
        "prd_multiple_in_progress",
        storyPath(prd.format, second, prd.format === "smith" ? "status" : "passes"),
        `${inProgress.length} stories are in progress (${ids}); a loop works on one story at a time`,
        'Keep one story "in_progress" and set the others back to "open" (or "done" if they pass).',
        secondStory.id,
      ),
    );
  }
}

function checkDependencies(prd: Prd, errors: PrdDiagnostic[]): void {
  const indexOf = new Map<string, number>();
  prd.stories.forEach((story, index) => {
    if (!indexOf.has(story.id)) indexOf.set(story.id, index);
  });
  const graph = new Map<string, string[]>();
  prd.stories.forEach((story, index) => {
    const edges = graph.get(story.id) ?? [];
    graph.set(story.id, edges);
    story.dependsOn.forEach((dep, k) => {
      if (indexOf.has(dep)) {
        edges.push(dep);
        return;
      }
      const near = [...indexOf.keys()].find((id) => id.trim().toLowerCase() === dep.trim().toLowerCase());
      errors.push(
        diagnostic(
          "prd_unknown_dependency",
          storyPath(prd.format, index, "dependsOn", k),
          `story ${story.id} depends on ${JSON.stringify(dep)}, which is not a story in this PRD`,
          near === undefined
            ? `Use the id of a story in this PRD (${listIds([...indexOf.keys()])}), or remove the entry.`
            : `Did you mean ${JSON.stringify(near)}?`,
          story.id || undefined,
        ),
      );
    });
  });
  for (const cycle of findCycles(graph, indexOf)) {
    const from = cycle[0];
    if (from === undefined) continue;
    // A story that depends on itself is a cycle of one.
    const to = cycle[1] ?? from;
    const index = indexOf.get(from) ?? 0;
    const k = prd.stories[index]?.dependsOn.indexOf(to) ?? 0;
    errors.push(
      diagnostic(
        "prd_dependency_cycle",
        storyPath(prd.format, index, "dependsOn", k),
        `dependency cycle: ${[...cycle, from].join(" → ")} (→ reads "depends on"); none of these stories can ever start`,
        "Remove one dependsOn entry in the cycle, or merge the stories into one.",
        from,
      ),
    );
  }
}

/**
 * Each cycle once, as [a, b, ...] where a depends on b and the last depends on a, starting at the
 * story that comes first in the document. Iterative: a PRD near 512 KiB can hold a chain of
 * thousands of stories, deeper than a recursive walk may go.
 */
function findCycles(graph: Map<string, string[]>, indexOf: Map<string, number>): string[][] {
  const state = new Map<string, "active" | "finished">();
  const found = new Set<string>();
  const cycles: string[][] = [];
  for (const root of graph.keys()) {
    if (state.has(root)) continue;
    const stack: Array<{ id: string; next: number }> = [{ id: root, next: 0 }];
    state.set(root, "active");
    for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
      const dep = graph.get(frame.id)?.[frame.next];
      if (dep === undefined) {
        state.set(frame.id, "finished");
        stack.pop();
        continue;
      }
      frame.next++;
      const seen = state.get(dep);
      if (seen === undefined) {
        state.set(dep, "active");
        stack.push({ id: dep, next: 0 });
      } else if (seen === "active") {
        const cycle = stack.slice(stack.findIndex((f) => f.id === dep)).map((f) => f.id);
        const key = [...cycle].sort().join("\u0000");
        if (found.has(key)) continue;
        found.add(key);
        cycles.push(rotateToFirst(cycle, indexOf));
      }
    }
  }
  return cycles;
}

function rotateToFirst(cycle: string[], indexOf: Map<string, number>): string[] {
  let start = 0;
  cycle.forEach((id, i) => {
    const current = cycle[start];
    if (current !== undefined && (indexOf.get(id) ?? 0) < (indexOf.get(current) ?? 0)) start = i;
  });
  return [...cycle.slice(start), ...cycle.slice(0, start)];
}

function unrecognised(path: string, storyId?: string): PrdDiagnostic {
  return diagnostic(
    "prd_unrecognised_value",
    path,
    `${path} has a form Smith does not recognise; it is kept as written but not used`,
    "Check the field against the PRD format in the docs (e.g. uiNotes is a string or a list of strings).",
    storyId,
  );
}

function listIds(ids: string[]): string {
  const shown = ids.slice(0, 10).join(", ");
  return ids.length > 10 ? `${shown}, …` : shown || "none yet";
}
