/**
 * What PRD validation reports. Each diagnostic names a path in the document the user edits
 * (`userStories[2].acceptanceCriteria` for a ralph PRD) and says how to fix it, because the
 * reader is often an agent that will act on the suggestion literally.
 */
import { z } from "zod";

export const PRD_DIAGNOSTIC_CODES = [
  /** The document is over LIMITS.prdBytes. */
  "prd_too_large",
  /** The text is not JSON. */
  "prd_invalid_json",
  /** A JSON value that is neither PRD shape. */
  "prd_unknown_format",
  /** A known field has the wrong type (a story that is not an object, a status outside the enum). */
  "prd_invalid_field",
  /** project, or a story's id or title, is missing or blank. */
  "prd_missing_field",
  /** The stories array is missing or empty. */
  "prd_no_stories",
  "prd_duplicate_story_id",
  /** A dependsOn entry names no story. */
  "prd_unknown_dependency",
  "prd_dependency_cycle",
  /** A loop works on one story at a time. */
  "prd_multiple_in_progress",
  "prd_no_acceptance_criteria",
  "prd_no_quality_gates",
  /** A context block or optional story field had an unexpected form; it was kept verbatim. */
  "prd_unrecognised_value",
] as const;
export const PrdDiagnosticCode = z.enum(PRD_DIAGNOSTIC_CODES);
export type PrdDiagnosticCode = z.infer<typeof PrdDiagnosticCode>;

export const PrdDiagnostic = z.object({
  code: PrdDiagnosticCode,
  /** Where in the document, e.g. `stories[2].dependsOn[0]`; empty for the whole document. */
  path: z.string(),
  /** The story the diagnostic is about, when there is one. */
  storyId: z.string().optional(),
  message: z.string(),
  /** What to change to fix it. */
  suggestion: z.string(),
});
export type PrdDiagnostic = z.infer<typeof PrdDiagnostic>;

export const PrdReadiness = z.enum(["pass", "warn", "fail"]);
export type PrdReadiness = z.infer<typeof PrdReadiness>;

export const PrdValidationReport = z.object({
  /** No errors: a loop may run this PRD. */
  valid: z.boolean(),
  /** fail if any error, warn if only warnings, pass otherwise. */
  readiness: PrdReadiness,
  errors: z.array(PrdDiagnostic),
  warnings: z.array(PrdDiagnostic),
});
export type PrdValidationReport = z.infer<typeof PrdValidationReport>;

export function diagnostic(
  code: PrdDiagnosticCode,
  path: string,
  message: string,
  suggestion: string,
  storyId?: string,
): PrdDiagnostic {
  return storyId === undefined ? { code, path, message, suggestion } : { code, path, storyId, message, suggestion };
}

export function report(errors: PrdDiagnostic[], warnings: PrdDiagnostic[]): PrdValidationReport {
  const readiness: PrdReadiness = errors.length > 0 ? "fail" : warnings.length > 0 ? "warn" : "pass";
  return { valid: errors.length === 0, readiness, errors, warnings };
}
