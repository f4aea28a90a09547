import {
  parsePrd,
  visibleLine,
  visibleText,
  type Handoff,
  type JournalEntry,
  type Loop,
  type Override,
} from "@smith/core";
import { describeEvidence } from "./evidence.ts";
import { journalLine } from "./journal.ts";
import { formatAge, formatDuration, formatUsd } from "./table.ts";

export interface LoopDescription {
  loop: Loop;
  /** The last journal entries, oldest first. */
  journal: JournalEntry[];
  /** How many entries the journal has in all (for "last N of M"). */
  journalTotal: number;
  latestHandoff?: Handoff;
  overrides: Override[];
}

/**
 * `smithctl describe loop`: spec, status, story progress, steering, latest handoff, last journal lines.
 * Titles, messages, questions, handoffs and journal lines were written by agents and people: each
 * value is shown as one visible line (control characters escaped, newlines as `\n`), so that none
 * can move the cursor or pass for a line of the description.
 */
export function describeLoop(d: LoopDescription, now: Date): string {
  const { loop } = d;
  const s = loop.status;
  const spec = loop.spec;
  const out: string[] = [];
  const field = (name: string, value: string, indent = 0) =>
    out.push(`${" ".repeat(indent)}${(name + ":").padEnd(20 - indent)}${visibleLine(value)}`.trimEnd());
  const list = (items: readonly string[], indent: number) => {
    if (items.length === 0) out.push(`${" ".repeat(indent)}<none>`);
    for (const i of items) out.push(`${" ".repeat(indent)}- ${visibleLine(i)}`);
  };

  field("ID", loop.id);
  field("Title", spec.title ?? "<none>");
  field("Source", loop.source.type + (loop.source.ref ? ` (${loop.source.ref})` : ""));
  field("Priority", String(loop.priority));
  field("Concurrency Key", loop.concurrencyKey);
  field("Idempotency Key", loop.idempotencyKey ?? "<none>");
  field(
    "Labels",
    Object.entries(loop.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ") || "<none>",
  );

  out.push("Spec:");
  field("Repository", spec.repo.url, 2);
  field("Base Branch", spec.repo.baseBranch, 2);
  field("Work Branch", spec.repo.workBranch ?? `smith/${loop.id}`, 2);
  field(
    "PRD",
    spec.prd.kind === "inline"
      ? `inline, ${Buffer.byteLength(spec.prd.content, "utf8")} bytes, written to ${spec.prd.path}`
      : spec.prd.kind === "issue"
        ? `drafted from the source issue into ${spec.prd.path}`
        : `${spec.prd.path} in the repository`,
    2,
  );
  const agent = spec.agent;
  const agentDetails = [
    agent.model ? `model ${agent.model}` : "",
    agent.command ? `command ${JSON.stringify(agent.command)}` : "",
    agent.replayDir ? `replay dir ${agent.replayDir}` : "",
    agent.args.length ? `args ${agent.args.join(" ")}` : "",
  ].filter(Boolean);
  field("Agent", agent.provider + (agentDetails.length ? ` (${agentDetails.join(", ")})` : ""), 2);
  const l = spec.limits;
  field(
    "Limits",
    `${l.maxAttempts} attempts, ${l.maxIterations} iterations, timeout ${formatDuration(l.timeoutMs)}, agent timeout ${formatDuration(l.agentTimeoutMs)}, ` +
      `${l.maxConsecutiveFailures} consecutive failures, ${l.noProgressIterations} iterations without progress` +
      (l.maxCostUsd !== undefined ? `, budget ${formatUsd(l.maxCostUsd)}` : ""),
    2,
  );
  field("Quality Gates", spec.qualityGates.length ? "" : "<none> (the PRD's own only)", 2);
  if (spec.qualityGates.length) list(spec.qualityGates, 4);
  field(
    "Verification",
    `gates ${spec.gates}, baseline ${spec.baseline}, integrate by ${spec.integrate}, hooks ${spec.commit.noVerify ? "skipped (noVerify)" : "run"}, files up to ${spec.commit.maxFileBytes} bytes`,
    2,
  );

  out.push("Status:");
  field("State", s.state, 2);
  field("Reason", s.reason ?? "<none>", 2);
  if (s.message) field("Message", s.message, 2);
  if (s.question) field("Question", s.question, 2);
  if (s.waitingSince) field("Waiting Since", `${s.waitingSince} (answer: smithctl answer ${loop.id} "TEXT")`, 2);
  if (s.resumeAt) field("Resumes At", s.resumeAt, 2);
  field("Attempt", `${s.attempt} (${s.attempt - s.attemptBase} of ${l.maxAttempts} counted)`, 2);
  field("Iteration", `${s.iteration} (${s.iteration - s.iterationBase} of ${l.maxIterations} counted)`, 2);
  field("Executor", s.executor ? `${s.executor.kind}/${s.executor.id}` : "<none>", 2);
  if (s.pullRequest) field("Pull Request", `#${s.pullRequest.number} ${s.pullRequest.url}`, 2);
  if (s.reviewRound) field("Review Round", `${s.reviewRound} of ${l.maxReviewRounds}`, 2);
  if (s.claimedBy) field("Claimed By", s.claimedBy, 2);
  if (s.notBefore) field("Not Before", s.notBefore, 2);
  field("Created", `${s.createdAt} (${formatAge(now.getTime() - Date.parse(s.createdAt))} ago)`, 2);
  if (s.startedAt) field("Started", s.startedAt, 2);
  field("Updated", s.updatedAt, 2);
  if (s.finishedAt) field("Finished", s.finishedAt, 2);
  field(
    "Cost",
    `${formatUsd(loop.cost.usd)} (${loop.cost.inputTokens} input tokens, ${loop.cost.outputTokens} output tokens)`,
    2,
  );

  out.push(`Stories:            ${s.progress.done}/${s.progress.total} done`);
  for (const line of inlineStories(loop)) out.push(`  ${visibleLine(line)}`);

  out.push(...describeEvidence(loop.evidence));

  out.push(`Steering:           ${loop.steering.length ? `${loop.steering.length} pending` : "<none>"}`);
  for (const m of loop.steering) out.push(`  ${m.at} ${visibleLine(m.actor)}: ${visibleLine(m.message)}`);

  if (d.overrides.length) {
    out.push("Overrides:");
    for (const o of d.overrides)
      out.push(`  ${o.at} ${visibleLine(o.actor.id)}: ${o.from} → ${o.to}: ${visibleLine(o.reason)}`);
  }

  const h = d.latestHandoff;
  if (!h) {
    out.push("Latest Handoff:     <none>");
  } else {
    out.push(`Latest Handoff:     attempt ${h.attempt}, ${h.createdAt}, validation ${h.validation.state}`);
    const section = (name: string, items: readonly string[]) => {
      if (items.length === 0) return;
      out.push(`  ${name}:`);
      list(items, 4);
    };
    section("Done", h.done);
    section("Remaining", h.remaining);
    section("Decisions", h.decisions);
    section("Uncertain", h.uncertain);
    section("Next Steps", h.nextSteps);
    if (h.validation.details) section("Validation", h.validation.details.split("\n"));
  }

  out.push(
    d.journal.length ? `Journal (last ${d.journal.length} of ${d.journalTotal}):` : "Journal:            <none>",
  );
  for (const e of d.journal) out.push(journalLine(e));
  // Every value above is already one visible line; this keeps a value added later from slipping through.
  return visibleText(out.join("\n"));
}

/** The stories of an inline PRD (id and title), in document order; nothing for a PRD in the repository. */
function inlineStories(loop: Loop): string[] {
  if (loop.spec.prd.kind !== "inline") return [];
  try {
    return parsePrd(loop.spec.prd.content).stories.map((st) => `${st.id}  ${st.title}`);
  } catch {
    return ["(the inline PRD could not be read)"];
  }
}
