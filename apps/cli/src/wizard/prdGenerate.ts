/**
 * `smith prd generate "<request>"`: an agent drafts the PRD, the wizard opens on the draft, and
 * nothing is written until the person accepts it there.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createAgent, sanitizeEnv } from "@smith/agents";
import {
  parsePrdObject,
  validatePrd,
  type AgentAdapter,
  type AgentEvent,
  type AgentResult,
  type Prd,
} from "@smith/core";
import { TRUNCATION_MARKER, extractPrdJson } from "./extract.ts";
import { runPrdNew } from "./prdNew.ts";
import { buildPrdPrompt } from "./prompt.ts";

/** Where an agent that writes files (rather than answering) tends to put the PRD. */
const AGENT_PRD_PATH = join(".agents", "tasks", "prd.json");

/** How long the agent may take by default. */
const DEFAULT_GENERATE_TIMEOUT_MS = 15 * 60 * 1000;

export interface PrdGenerateOptions {
  /** What to build, in the person's words. */
  request: string;
  agent: "claude" | "codex" | "command";
  /** For `command`: a shell command line that reads the prompt on stdin and prints the PRD. */
  agentCommand?: string;
  /** The agent CLIs' executables (paths, or names looked up on env.PATH). */
  binaries?: { claude?: string; codex?: string };
  /** The caller's environment; the agent gets it through sanitizeEnv (no SMITH_*, no stray secrets). */
  env: Record<string, string | undefined>;
  /** Passed to the wizard: where the accepted PRD is written. */
  outPath: string;
  markdown: boolean;
  /** The repository the PRD is for; the agent runs here. */
  cwd: string;
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Default DEFAULT_GENERATE_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Aborting kills the agent's process tree. */
  signal?: AbortSignal;
}

/** 0 when the PRD was written; 1 when the agent failed or gave no usable PRD; 2 on bad options; 130 on quit. */
export async function runPrdGenerate(options: PrdGenerateOptions): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const say = (line: string) => stdout.write(`${line}\n`);
  const fail = (message: string, code = 1): number => {
    stderr.write(`smith prd generate: ${message}\n`);
    return code;
  };

  if (options.request.trim() === "")
    return fail('say what to build, e.g. smith prd generate "CSV export for invoices"', 2);
  if (options.agent === "command" && (options.agentCommand ?? "").trim() === "") {
    return fail(
      "--agent command needs --agent-command CMD (a command that reads the prompt on stdin and prints the PRD)",
      2,
    );
  }
  let agent: AgentAdapter;
  try {
    agent = createAgent(
      {
        provider: options.agent,
        args: [],
        ...(options.agentCommand === undefined ? {} : { command: options.agentCommand }),
      },
      options.binaries === undefined ? {} : { binaries: options.binaries },
    );
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err), 2);
  }

  const agentFile = join(options.cwd, AGENT_PRD_PATH);
  const fileBefore = await readIfExists(agentFile);
  const transcript: Transcript = { texts: [], stdout: [] };
  say(
    `Drafting a PRD with ${options.agent === "command" ? `\`${options.agentCommand ?? ""}\`` : options.agent} in ${options.cwd} …`,
  );
  const result = await agent.run({
    prompt: buildPrdPrompt(options.request),
    cwd: options.cwd,
    env: sanitizeEnv(options.env),
    timeoutMs: options.timeoutMs ?? DEFAULT_GENERATE_TIMEOUT_MS,
    storyId: "prd",
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    onEvent: (event) => record(event, transcript, say),
  });
  const failure = agentFailure(result, options.timeoutMs ?? DEFAULT_GENERATE_TIMEOUT_MS);
  if (failure !== undefined) return fail(failure, result.cancelled ? 130 : 1);

  // The prompt asks for an answer, not a file; an agent that wrote the file anyway is read, and
  // the file put back, so that the wizard stays the only thing that writes the PRD.
  const fileAfter = await readIfExists(agentFile);
  const agentWrote = fileAfter !== undefined && fileAfter !== fileBefore;
  if (agentWrote) await restore(agentFile, fileBefore);
  const sources: Source[] = [
    ...(agentWrote ? [{ name: `${AGENT_PRD_PATH} (written by the agent)`, text: fileAfter }] : []),
    ...(result.summary === undefined ? [] : [{ name: "the agent's final message", text: result.summary }]),
    { name: "the agent's messages", text: transcript.texts.join("\n") },
    { name: "the agent's output", text: transcript.stdout.join("\n") },
  ];
  const found = firstPrd(sources);
  if (found === undefined) return fail(noPrdMessage(sources));

  let prd: Prd;
  try {
    prd = parsePrdObject(found.value);
  } catch (err) {
    return fail(`the JSON in ${found.source} is not a PRD: ${err instanceof Error ? err.message : String(err)}`);
  }
  const report = validatePrd(prd);
  const problems = report.errors.length === 0 ? "" : `, ${report.errors.length} to fix`;
  say(
    `The agent drafted ${prd.stories.length} ${prd.stories.length === 1 ? "story" : "stories"} (readiness ${report.readiness}${problems}).`,
  );
  if (agentWrote)
    say(`It wrote ${AGENT_PRD_PATH} itself; that file was put back as it was. The draft opens in the wizard.`);
  say("Review it in the wizard; nothing is written until you accept it there.");
  return runPrdNew({
    outPath: options.outPath,
    markdown: options.markdown,
    initial: prd,
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
    stdout,
    stderr,
  });
}

interface Transcript {
  texts: string[];
  stdout: string[];
}

interface Source {
  name: string;
  text: string;
}

/** Keeps what may hold the PRD, and shows the agent's tool use so the wait is not silent. */
function record(event: AgentEvent, transcript: Transcript, say: (line: string) => void): void {
  if (event.type === "text") transcript.texts.push(event.text);
  else if (event.type === "log" && event.stream === "stdout") transcript.stdout.push(event.line);
  else if (event.type === "tool_use")
    say(`  · ${event.tool}${event.input === undefined ? "" : ` ${event.input.split("\n")[0] ?? ""}`}`);
}

function agentFailure(result: AgentResult, timeoutMs: number): string | undefined {
  if (result.cancelled) return "cancelled";
  if (result.timedOut) return `the agent did not finish within ${Math.round(timeoutMs / 1000)} s`;
  if (result.exitCode === 0 && !result.isError) return undefined;
  const how =
    result.exitCode === null
      ? "was killed"
      : result.exitCode === 0
        ? "reported an error"
        : `exited with code ${result.exitCode}`;
  const tail = result.stderrTail.trim();
  return `the agent ${how}${tail === "" ? "" : `:\n${indent(tail)}`}`;
}

function firstPrd(sources: Source[]): { value: Record<string, unknown>; source: string } | undefined {
  for (const source of sources) {
    const value = extractPrdJson(source.text);
    if (value !== undefined) return { value, source: source.name };
  }
  return undefined;
}

function noPrdMessage(sources: Source[]): string {
  const said = sources
    .map((s) => s.text)
    .filter((text) => text.trim() !== "")
    .join("\n");
  const cut = TRUNCATION_MARKER.test(said)
    ? "\nThe agent's reply was cut short (it was longer than Smith keeps); ask for fewer or smaller stories."
    : "";
  const tail = said.trim().split("\n").slice(-8).join("\n");
  return (
    'no PRD JSON found in the agent\'s reply (expected a ```json block holding { "project": ..., "stories": [...] })' +
    cut +
    (tail === "" ? "\nThe agent said nothing." : `\nThe agent's reply ended with:\n${indent(tail)}`)
  );
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

async function restore(path: string, before: string | undefined): Promise<void> {
  if (before === undefined) await rm(path, { force: true });
  else await writeFile(path, before);
}
