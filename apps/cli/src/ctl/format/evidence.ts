import type { GateRun, LoopEvidence } from "@smith/core";

/** Gate output comes from the repository's commands: control characters are shown, never sent to the terminal. */
export function visible(text: string): string {
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    const control = (code < 0x20 && ch !== "\n" && ch !== "\t") || (code >= 0x7f && code <= 0x9f);
    out += control ? `\\x${code.toString(16).padStart(2, "0")}` : ch;
  }
  return out;
}

function gateLine(g: GateRun): string {
  const verdict = g.passed ? "pass" : g.failedAtBaseline ? "fail (as on base)" : "FAIL";
  return `${verdict}  ${visible(g.command)}  exit ${g.exitCode ?? "-"}${g.timedOut ? " (timed out)" : ""}  ${(g.durationMs / 1000).toFixed(1)}s`;
}

/** The last lines of a failed gate's output, indented. */
function tailLines(g: GateRun, lines: number): string[] {
  if (g.passed || !g.outputTail) return [];
  return g.outputTail
    .trimEnd()
    .split("\n")
    .slice(-lines)
    .map((l) => `      | ${visible(l)}`);
}

/** The evidence section of `smithctl describe loop`: gate plan, baseline, each story's gates and commit, final verification. */
export function describeEvidence(evidence: LoopEvidence | undefined): string[] {
  if (!evidence) return ["Evidence:           <none>"];
  const out: string[] = ["Evidence:"];
  const g = evidence.gates;
  if (g) {
    out.push(
      `  Gates:            ${g.source}${g.commands.length ? `: ${g.commands.map(visible).join(" && ")}` : " (no gates)"}`,
    );
    for (const from of g.detectedFrom) out.push(`    detected from ${visible(from)}`);
  }
  const b = evidence.baseline;
  if (b) {
    const failing = b.gates.filter((x) => !x.passed).map((x) => visible(x.command));
    out.push(
      `  Baseline:         ${failing.length ? `failing (${failing.join(", ")})` : "green"} on ${b.commit.slice(0, 12)} at ${b.at}`,
    );
  }
  if (evidence.stories.length === 0) out.push("  Stories:          <none yet>");
  for (const s of evidence.stories) {
    out.push(
      `  ${visible(s.storyId)}  ${s.state}  ${s.iterations} iteration${s.iterations === 1 ? "" : "s"}${s.commit ? `  commit ${s.commit.slice(0, 12)}` : ""}  ${s.at}${s.title ? `  ${visible(s.title)}` : ""}`,
    );
    if (s.failure) out.push(`    why: ${visible(s.failure.split("\n")[0] ?? "")}`);
    for (const gate of s.gates) {
      out.push(`    ${gateLine(gate)}`);
      out.push(...tailLines(gate, 5));
    }
  }
  const f = evidence.final;
  if (f) {
    out.push(
      `  Final:            ${f.passed ? "passed" : "failed"} on ${f.commit.slice(0, 12)} (${f.method} onto ${f.base.slice(0, 12)}) at ${f.at}`,
    );
    for (const gate of f.gates) {
      out.push(`    ${gateLine(gate)}`);
      out.push(...tailLines(gate, 5));
    }
  }
  return out;
}
