import { z } from "zod";
import { utf8Length } from "./errors.ts";
import { KiB } from "./limits.ts";

/**
 * What a loop keeps as proof that its stories are done: for each story the gate results
 * (command, exit code, duration, output tail) of its last iteration and the commit that passed
 * them; the baseline (the gates on the untouched base); the final verification on the integrated
 * tree. It lives in the loop record, so it is bounded (`EVIDENCE_BYTES`): output tails are cut
 * short here and dropped, oldest story first, when the whole grows past the bound.
 */
export const EVIDENCE_BYTES = 96 * KiB;
/** One gate's output tail as kept in the loop record (the journal keeps a longer one). */
export const EVIDENCE_TAIL_BYTES = 2 * KiB;

export const GateRun = z.object({
  command: z.string().max(4096),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().int().min(0),
  passed: z.boolean(),
  timedOut: z.boolean().default(false),
  outputTail: z.string().max(EVIDENCE_TAIL_BYTES),
  /** Failed, but failed on the untouched base too: it does not hold the story back (`baseline: no-worse`). */
  failedAtBaseline: z.boolean().optional(),
});
export type GateRun = z.infer<typeof GateRun>;

export const StoryEvidence = z.object({
  storyId: z.string().max(200),
  title: z.string().max(500).optional(),
  state: z.enum(["passed", "failed"]),
  /** Iterations spent on the story so far. */
  iterations: z.number().int().min(0),
  /** The iteration these results are from. */
  iteration: z.number().int().min(0),
  at: z.string().datetime(),
  gates: z.array(GateRun).max(50),
  /** The commit that passed the gates. */
  commit: z.string().max(64).optional(),
  /** Why the iteration failed when no gate says it (agent failure, refused commit). */
  failure: z.string().max(1024).optional(),
});
export type StoryEvidence = z.infer<typeof StoryEvidence>;

export const GateSource = z.enum(["prd", "spec", "prd+spec", "detected", "none"]);
export type GateSource = z.infer<typeof GateSource>;

export const VerificationRun = z.object({
  at: z.string().datetime(),
  /** The commit the gates ran on. */
  commit: z.string().max(64),
  gates: z.array(GateRun).max(50),
  passed: z.boolean(),
});
export type VerificationRun = z.infer<typeof VerificationRun>;

export const LoopEvidence = z.object({
  /** Where the gates came from, and what detection found them in. */
  gates: z
    .object({
      source: GateSource,
      commands: z.array(z.string().max(4096)).max(50),
      detectedFrom: z.array(z.string().max(256)).max(50).default([]),
    })
    .optional(),
  baseline: VerificationRun.optional(),
  /** The last final verification: the gates on the work branch integrated with the latest base. */
  final: VerificationRun.extend({
    method: z.enum(["rebase", "merge"]),
    /** The base commit the branch was integrated with. */
    base: z.string().max(64),
  }).optional(),
  stories: z.array(StoryEvidence).max(1000).default([]),
});
export type LoopEvidence = z.infer<typeof LoopEvidence>;

/** What a replica sends to record: any of the parts, the story one replacing that story's entry. */
export const EvidenceUpdate = z.object({
  gates: LoopEvidence.shape.gates,
  baseline: LoopEvidence.shape.baseline,
  final: LoopEvidence.shape.final,
  story: StoryEvidence.optional(),
});
export type EvidenceUpdate = z.infer<typeof EvidenceUpdate>;

/** Cuts a gate's output to the tail the loop record keeps. */
export function evidenceTail(text: string, maxBytes = EVIDENCE_TAIL_BYTES): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  let start = bytes.length - (maxBytes - 48);
  while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
  return `[… ${start} bytes truncated …]\n` + new TextDecoder().decode(bytes.subarray(start));
}

const DROPPED = "[output dropped: the loop's evidence budget is spent]";

/** The evidence after an update, bounded to `maxBytes` serialized. */
export function mergeEvidence(
  current: LoopEvidence | undefined,
  update: EvidenceUpdate,
  maxBytes = EVIDENCE_BYTES,
): LoopEvidence {
  const next: LoopEvidence = { stories: [...(current?.stories ?? [])] };
  const gates = update.gates ?? current?.gates;
  const baseline = update.baseline ?? current?.baseline;
  const final = update.final ?? current?.final;
  if (gates) next.gates = gates;
  if (baseline) next.baseline = baseline;
  if (final) next.final = final;
  if (update.story) {
    const i = next.stories.findIndex((s) => s.storyId === update.story?.storyId);
    if (i === -1) next.stories.push(update.story);
    else next.stories[i] = update.story;
  }
  return boundEvidence(next, maxBytes);
}

/**
 * Keeps the evidence under `maxBytes`: output tails go first, from the story recorded longest ago
 * (the newest results are the ones a person reads), then whole story entries, oldest first.
 */
export function boundEvidence(evidence: LoopEvidence, maxBytes = EVIDENCE_BYTES): LoopEvidence {
  const size = (e: LoopEvidence) => utf8Length(JSON.stringify(e));
  if (size(evidence) <= maxBytes) return evidence;
  const stories = evidence.stories.map((s) => ({ ...s, gates: s.gates.map((g) => ({ ...g })) }));
  const out: LoopEvidence = { ...evidence, stories };
  const byAge = [...stories].sort((a, b) => a.at.localeCompare(b.at));
  for (const s of byAge) {
    for (const g of s.gates) if (g.outputTail && g.outputTail !== DROPPED) g.outputTail = DROPPED;
    if (size(out) <= maxBytes) return out;
  }
  while (out.stories.length > 0 && size(out) > maxBytes) {
    const oldest = out.stories.reduce((a, b) => (b.at < a.at ? b : a));
    out.stories = out.stories.filter((s) => s !== oldest);
  }
  return out;
}

/**
 * A story's verdict on its gate results against the baseline. `green`: every gate must pass.
 * `no-worse` (the default): a gate that passed on the untouched base must pass; one that failed
 * there too does not hold the story back (its result is marked `failedAtBaseline`), since the
 * story did not break it.
 */
export function judgeGates(
  runs: readonly GateRun[],
  baseline: Pick<VerificationRun, "gates"> | undefined,
  rule: "no-worse" | "green",
): { passed: boolean; runs: GateRun[]; blocking: GateRun[] } {
  const failedBefore = new Set(
    rule === "no-worse" && baseline ? baseline.gates.filter((g) => !g.passed).map((g) => g.command) : [],
  );
  const judged = runs.map((r) => (!r.passed && failedBefore.has(r.command) ? { ...r, failedAtBaseline: true } : r));
  const blocking = judged.filter((r) => !r.passed && !r.failedAtBaseline);
  return { passed: blocking.length === 0, runs: judged, blocking };
}
