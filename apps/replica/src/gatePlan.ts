import { detectGates, type GateSource, type Loop } from "@smith/core";
import { readdirSync } from "node:fs";
import type { AttemptContext, Outcome } from "./context.ts";
import { recordEvidence } from "./evidence.ts";
import type { LoadedPrd } from "./prd.ts";
import { readWorkspaceFile, UnsafeWorkspacePath } from "./workspaceFile.ts";

export interface GatePlan {
  gates: string[];
  /** Run once per workspace before any gate (installing dependencies from the lockfile). */
  setup: string[];
  source: GateSource;
}

/** A root file's text, when it is a small regular file (a repository can hold anything). */
function readSmall(dir: string, name: string): string | undefined {
  try {
    return readWorkspaceFile(dir, name, 1024 * 1024);
  } catch (err) {
    // A link, a directory, a file too large: not a manifest to detect gates from.
    if (err instanceof UnsafeWorkspacePath || (err as NodeJS.ErrnoException).code === "EISDIR") return undefined;
    throw err;
  }
}

/**
 * The gates this loop runs: the PRD's and the spec's; when both give none, the ones detected from
 * the repository (journaled with what they were found in). No gate at all stops the loop before
 * any agent runs (`no-gates`, waiting for a person) unless the spec says `gates: "none"`.
 */
export async function planGates(ctx: AttemptContext, loop: Loop, loaded: LoadedPrd): Promise<GatePlan | Outcome> {
  const fromPrd = loaded.prd.qualityGates.length > 0;
  const fromSpec = loop.spec.qualityGates.length > 0;
  let plan: GatePlan & { detectedFrom: string[] };
  if (fromPrd || fromSpec) {
    plan = {
      gates: loaded.gates,
      setup: [],
      source: fromPrd && fromSpec ? "prd+spec" : fromPrd ? "prd" : "spec",
      detectedFrom: [],
    };
  } else if (loop.spec.gates === "none") {
    ctx.note("gate", 'no quality gates: the spec says gates: "none", so every story is taken on the agent\'s word', {
      level: "warn",
    });
    plan = { gates: [], setup: [], source: "none", detectedFrom: [] };
  } else {
    const dir = ctx.workDir;
    const detected = detectGates({
      rootFiles: readdirSync(dir),
      packageJson: readSmall(dir, "package.json"),
      makefile: readSmall(dir, "Makefile") ?? readSmall(dir, "makefile") ?? readSmall(dir, "GNUmakefile"),
      pyprojectToml: readSmall(dir, "pyproject.toml"),
      setupCfg: readSmall(dir, "setup.cfg"),
    });
    if (detected.gates.length === 0) {
      const message =
        'neither the PRD nor the spec names a quality gate and none was found in the repository (package.json scripts, Makefile test, pytest, go.mod, Cargo.toml); add qualityGates, or set gates: "none" to run without';
      ctx.note("gate", message, { level: "error" });
      return {
        outcome: "waiting",
        reason: "no-gates",
        message,
        question: 'Which commands prove a story is done? Add qualityGates to the PRD or the spec (or gates: "none").',
      };
    }
    ctx.note(
      "gate",
      `detected quality gates: ${detected.gates.map((g, i) => `\`${g}\` (${detected.sources[i] ?? "?"})`).join(", ")}${detected.setup.length ? `; setup: ${detected.setup.join(" && ")}` : ""}`,
      { metadata: { gates: detected.gates, sources: detected.sources, setup: detected.setup } },
    );
    plan = { gates: detected.gates, setup: detected.setup, source: "detected", detectedFrom: detected.sources };
  }
  await recordEvidence(ctx, {
    gates: { source: plan.source, commands: plan.gates, detectedFrom: plan.detectedFrom },
  });
  return { gates: plan.gates, setup: plan.setup, source: plan.source };
}
