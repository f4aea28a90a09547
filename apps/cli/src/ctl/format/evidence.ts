import { visibleLine, visibleText, type GateRun, type LoopEvidence } from "@smith/core";

// Gate commands and their output come from the repository, stories from the PRD: every value is
// shown as one visible line (control characters escaped), never sent to the terminal raw.

function gateLine(g: GateRun): string {
  const verdict = g.passed ? "pass" : g.failedAtBaseline ? "fail (as on base)" : "FAIL";
  return `${verdict}  ${visibleLine(g.command)}  exit ${g.exitCode ?? "-"}${g.timedOut ? " (timed out)" : ""}  ${(g.durationMs / 1000).toFixed(1)}s`;
}

/** The last lines of a failed gate's output, indented. */
function tailLines(g: GateRun, lines: number): string[] {
  if (g.passed || !g.outputTail) return [];
  return (
    g.outputTail
      .trimEnd()
      .split(/\r?\n/)
      .slice(-lines)
      // Tabs in a command's output stay tabs; every other control character is escaped.
      .map((l) => `      | ${visibleText(l)}`)
  );
}

/** The evidence section of `smithctl describe loop`: gate plan, baseline, each story's gates and commit, final verification. */
export function describeEvidence(evidence: LoopEvidence | undefined): string[] {
  if (!evidence) return ["Evidence:           <none>"];
  const out: string[] = ["Evidence:"];
  const g = evidence.gates;
  if (g) {
    out.push(
      `  Gates:            ${g.source}${g.commands.length ? `: ${g.commands.map(visibleLine).join(" && ")}` : " (no gates)"}`,
    );
    for (const from of g.detectedFrom) out.push(`    detected from ${visibleLine(from)}`);
  }
  const b = evidence.baseline;
  if (b) {
    const failing = b.gates.filter((x) => !x.passed).map((x) => visibleLine(x.command));
    out.push(
      `  Baseline:         ${failing.length ? `failing (${failing.join(", ")})` : "green"} on ${b.commit.slice(0, 12)} at ${b.at}`,
    );
  }
  if (evidence.stories.length === 0) out.push("  Stories:          <none yet>");
  for (const s of evidence.stories) {
    out.push(
      `  ${visibleLine(s.storyId)}  ${s.state}  ${s.iterations} iteration${s.iterations === 1 ? "" : "s"}${s.commit ? `  commit ${s.commit.slice(0, 12)}` : ""}  ${s.at}${s.title ? `  ${visibleLine(s.title)}` : ""}`,
    );
    if (s.failure) out.push(`    why: ${visibleLine(s.failure.split("\n")[0] ?? "")}`);
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
