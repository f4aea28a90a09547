/** GitHub refuses a pull request body over 65,536 characters. */
export const MAX_BODY_CHARS = 65_536;

/** Files at least this long are listed as advisory in the body. */
export const LARGE_FILE_LINES = 300;

export interface StoryReport {
  id: string;
  title: string;
  /** The commit that finished the story, when it is done. */
  commit?: string;
  /** The gates that passed on that commit. */
  gates: string[];
}

export interface PullRequestReport {
  loopId: string;
  title: string;
  /** `owner/repo#N` of the source issue; the body then says `Closes #N` when in the same repository. */
  issue?: { ref: string; number: number; sameRepository: boolean };
  stories: StoryReport[];
  remaining: string[];
  decisions: string[];
  uncertain: string[];
  diffStat: string;
  largeFiles: { path: string; lines: number }[];
  cost: { inputTokens: number; outputTokens: number; usd: number };
  /** Where a person follows the loop (the dashboard, or the command that describes it). */
  loopLink?: string;
}

/** The marker that says a body (or comment) was written by Smith for a loop. */
export function smithMarker(loopId: string): string {
  return `<!-- smith:loop=${loopId} -->`;
}

/**
 * Characters that would end a Markdown inline code span or open HTML: text that came from an
 * agent or a repository goes into the body, and must not inject markup into it.
 */
function inline(text: string): string {
  return text.replace(/[\r\n]+/g, " ").replace(/[<>`|]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fence(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = "`".repeat(longest + 1);
  return `${ticks}\n${text}\n${ticks}`;
}

/** The pull request body Smith writes from an attempt's handoff. Bounded by GitHub's limit. */
export function renderPullRequestBody(r: PullRequestReport): string {
  const out: string[] = [smithMarker(r.loopId), ""];
  out.push(`Smith loop \`${r.loopId}\`${r.loopLink ? ` — ${r.loopLink}` : ""}`);
  if (r.issue) out.push("", r.issue.sameRepository ? `Closes #${r.issue.number}` : `From ${inline(r.issue.ref)}`);
  out.push("", "## Stories", "", "| story | commit | gates passed |", "| --- | --- | --- |");
  for (const s of r.stories)
    out.push(
      `| ${inline(s.id)} ${inline(s.title)} | ${s.commit ? s.commit.slice(0, 12) : "—"} | ${s.gates.length ? s.gates.map(inline).join(", ") : "—"} |`,
    );
  if (r.remaining.length) out.push("", "## Remaining", "", ...r.remaining.map((l) => `- ${inline(l)}`));
  if (r.decisions.length) out.push("", "## Decisions", "", ...r.decisions.map((l) => `- ${inline(l)}`));
  if (r.uncertain.length) out.push("", "## Uncertain", "", ...r.uncertain.map((l) => `- ${inline(l)}`));
  if (r.diffStat.trim()) out.push("", "## Diff", "", fence(r.diffStat.trimEnd()));
  if (r.largeFiles.length)
    out.push(
      "",
      `## Files over ${LARGE_FILE_LINES} lines (advisory)`,
      "",
      ...r.largeFiles.map((f) => `- ${inline(f.path)}: ${f.lines} lines`),
    );
  out.push(
    "",
    "## Cost",
    "",
    `${r.cost.inputTokens} input tokens, ${r.cost.outputTokens} output tokens, $${r.cost.usd.toFixed(4)}`,
  );
  const body = out.join("\n") + "\n";
  if (body.length <= MAX_BODY_CHARS) return body;
  const marker = "\n\n… (truncated: GitHub limits a body to 65,536 characters)\n";
  return body.slice(0, MAX_BODY_CHARS - marker.length) + marker;
}
