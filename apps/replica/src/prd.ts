import { parsePrd, serializePrd, storyProgress, validatePrd, type Loop, type Prd } from "@smith/core";
import { dirname, join } from "node:path";
import type { AttemptContext, Outcome } from "./context.ts";
import { readWorkspaceFile, UnsafeWorkspacePath, writeWorkspaceFile } from "./workspaceFile.ts";

/** The PRD of this attempt and where it and the progress notes live in the workspace. */
export interface LoadedPrd {
  prd: Prd;
  /** Repository-relative paths; Smith's own files, not the agent's change. */
  prdPath: string;
  notesPath: string;
  /** The workspace; Smith's files in it are read and written without following links (workspaceFile.ts). */
  workDir: string;
  /** Absolute paths in the workspace. */
  prdFile: string;
  notesFile: string;
  /** The PRD's quality gates followed by the spec's. */
  gates: string[];
}

/**
 * Loads the PRD: the file on the work branch (it carries the done marks of earlier attempts) or,
 * for an inline PRD not yet there, the spec's text written into the workspace. An invalid PRD ends
 * the attempt with `prd-invalid`.
 */
export function loadPrd(ctx: AttemptContext, loop: Loop): LoadedPrd | Outcome {
  const prdPath = loop.spec.prd.path;
  const prdFile = join(ctx.workDir, prdPath);
  let prdText: string | undefined;
  try {
    prdText = readWorkspaceFile(ctx.workDir, prdPath);
    if (prdText === undefined) {
      if (loop.spec.prd.kind !== "inline")
        return { outcome: "waiting", reason: "prd-invalid", message: `no PRD at ${prdPath} in the repository` };
      prdText = loop.spec.prd.content.endsWith("\n") ? loop.spec.prd.content : loop.spec.prd.content + "\n";
      writeWorkspaceFile(ctx.workDir, prdPath, prdText);
    }
  } catch (err) {
    // A link where the PRD should be (planted by an earlier attempt's agent, or in the repository).
    if (!(err instanceof UnsafeWorkspacePath)) throw err;
    return { outcome: "waiting", reason: "prd-invalid", message: `the PRD at ${err.message}` };
  }
  const report = validatePrd(prdText);
  if (!report.valid) {
    ctx.note(
      "prd",
      `the PRD is not ready: ${report.errors.map((e) => `${e.code} at ${e.path}: ${e.message}`).join("; ")}`,
      { level: "error", metadata: { report } },
    );
    return { outcome: "waiting", reason: "prd-invalid", message: report.errors[0]?.message ?? "invalid PRD" };
  }
  for (const w of report.warnings) ctx.note("prd", `${w.code} at ${w.path}: ${w.message}`, { level: "warn" });
  const prd = parsePrd(prdText);
  const gates = [...prd.qualityGates, ...loop.spec.qualityGates];
  const notesPath = join(dirname(prdPath), "progress.md");
  ctx.note(
    "prd",
    `${prd.format} PRD with ${prd.stories.length} stories (${storyProgress(prd).done} done); gates: ${gates.join(" && ") || "none"}`,
  );
  return { prd, prdPath, notesPath, workDir: ctx.workDir, prdFile, notesFile: join(ctx.workDir, notesPath), gates };
}

/** Writes the PRD back in the shape it was read in. */
export function savePrd(loaded: LoadedPrd, prd: Prd): void {
  writeWorkspaceFile(loaded.workDir, loaded.prdPath, serializePrd(prd));
}

/** The progress notes the next iterations (and attempts) read, one section per iteration. */
export function readNotes(loaded: LoadedPrd): string {
  try {
    return readWorkspaceFile(loaded.workDir, loaded.notesPath) ?? "";
  } catch (err) {
    // A link the agent made (to the token file, say) is not read into the next prompt.
    if (err instanceof UnsafeWorkspacePath) return "";
    throw err;
  }
}

/** Appends one iteration's section to the progress notes. */
export function appendNotes(
  loaded: LoadedPrd,
  entry: { at: string; storyId: string; iteration: number; attempt: number; passed: boolean; text: string },
): void {
  writeWorkspaceFile(
    loaded.workDir,
    loaded.notesPath,
    `\n## ${entry.at} — ${entry.storyId} (iteration ${entry.iteration}, attempt ${entry.attempt}): ${entry.passed ? "passed" : "failed"}\n${entry.text.slice(0, 2000)}\n`,
    { append: true },
  );
}
