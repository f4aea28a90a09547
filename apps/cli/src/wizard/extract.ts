/**
 * Finding the PRD in what an agent said. Agents wrap JSON in prose and Markdown fences, sometimes
 * print other JSON first (a tool result, an example), and sometimes forget the fence, so this
 * tries fenced blocks first, then any balanced `{...}` in the text, and keeps the last value that
 * looks like a PRD (an agent's final answer comes last).
 */
import { LIMITS } from "@smith/core";

/** Only the end of a long transcript is searched: the answer is there, and the scan is quadratic at worst. */
const SEARCH_BYTES = 2 * LIMITS.prdBytes;

/** The marker @smith/agents leaves where it cut an over-long message or line. */
export const TRUNCATION_MARKER = /\[… \d+ bytes truncated …\]/;

/** The last PRD-looking JSON object in `text`, decoded; undefined when there is none. */
export function extractPrdJson(text: string): Record<string, unknown> | undefined {
  const tail = text.length > SEARCH_BYTES ? text.slice(-SEARCH_BYTES) : text;
  return lastPrd(fencedBlocks(tail)) ?? lastPrd(balancedObjects(tail));
}

/** A JSON object a PRD reader would recognise: stories (either shape), or a project with PRD fields. */
function looksLikePrd(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const doc = value as Record<string, unknown>;
  if (Array.isArray(doc["stories"]) || Array.isArray(doc["userStories"])) return true;
  return (
    typeof doc["project"] === "string" && ["overview", "goals", "qualityGates", "description"].some((key) => key in doc)
  );
}

function lastPrd(candidates: string[]): Record<string, unknown> | undefined {
  for (const candidate of [...candidates].reverse()) {
    const value = parseJson(candidate);
    if (looksLikePrd(value)) return value;
  }
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.trim());
  } catch {
    return undefined;
  }
}

/** The contents of ``` fences (any info string: json, jsonc, none), in order. */
export function fencedBlocks(text: string): string[] {
  const blocks: string[] = [];
  const fence = /^[ \t]*(`{3,}|~{3,})[^\n]*\n([\s\S]*?)^[ \t]*\1[ \t]*$/gm;
  for (const match of text.matchAll(fence)) {
    if (match[2] !== undefined) blocks.push(match[2]);
  }
  return blocks;
}

/**
 * Every outermost balanced `{...}` in `text`, in order. Quotes only count inside braces: prose
 * around the JSON has apostrophes and unpaired quotes. A `{` that never closes (prose like
 * "use {id}") is skipped and the scan goes on after it.
 */
export function balancedObjects(text: string): string[] {
  const found: string[] = [];
  let from = text.indexOf("{");
  while (from >= 0) {
    const end = matchingBrace(text, from);
    if (end >= 0 && parseJson(text.slice(from, end + 1)) !== undefined) {
      found.push(text.slice(from, end + 1));
      from = text.indexOf("{", end + 1);
    } else {
      from = text.indexOf("{", from + 1);
    }
  }
  return found;
}

function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}
