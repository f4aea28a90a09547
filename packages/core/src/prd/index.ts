/** The PRD module: one model for smith and ralph PRDs, validation, story selection, Markdown. */
export {
  Prd,
  PrdDataField,
  PrdDataModelEntry,
  PrdFormat,
  PrdImportFormat,
  PrdNotes,
  PrdRoute,
  PrdStack,
  PrdStory,
  PrdStoryStatus,
  PrdTimestamp,
  PrdVersion,
} from "./model.ts";
export {
  PRD_DIAGNOSTIC_CODES,
  PrdDiagnostic,
  PrdDiagnosticCode,
  PrdReadiness,
  PrdValidationReport,
} from "./diagnostics.ts";
export { parsePrd, parsePrdObject } from "./parse.ts";
export { prdToDocument, serializePrd } from "./serialize.ts";
export { validatePrd } from "./validate.ts";
export { nextReadyStory, storyProgress } from "./select.ts";
export { markStory } from "./mark.ts";
export { prdFromMarkdown, prdToMarkdown } from "./markdown.ts";
