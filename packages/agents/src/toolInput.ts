import { BOUNDS, headText } from "./bounds.ts";
import { isObject, str } from "./json.ts";

/**
 * Tool input fields that say best what a call is about, in order of preference (Claude Code's
 * tool inputs: Bash `command`, Edit/Write/Read `file_path`, WebFetch `url`, Grep `pattern`...).
 */
const INPUT_SUMMARY_FIELDS = [
  "command",
  "file_path",
  "notebook_path",
  "url",
  "query",
  "pattern",
  "path",
  "description",
  "prompt",
  "skill",
];

/** A short, bounded description of a tool call's input: the path, command or query it is about. */
export function summarizeToolInput(input: unknown): string | undefined {
  if (input === undefined || input === null) return undefined;
  if (!isObject(input)) return headText(JSON.stringify(input), BOUNDS.toolInputBytes);
  for (const field of INPUT_SUMMARY_FIELDS) {
    const value = str(input[field]);
    if (value === undefined || value.trim() === "") continue;
    // Grep and Glob: the pattern alone does not say where.
    const where = field === "pattern" ? str(input.path) : undefined;
    return headText(where ? `${value} in ${where}` : value, BOUNDS.toolInputBytes);
  }
  const json = JSON.stringify(input);
  return json === "{}" ? undefined : headText(json, BOUNDS.toolInputBytes);
}
