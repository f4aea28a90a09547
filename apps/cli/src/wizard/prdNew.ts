/** `smith prd new`: run the wizard in the terminal, then write what it produced. */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { prdToMarkdown, serializePrd, validatePrd, type Prd } from "@smith/core";
import { render } from "ink";
import { html } from "../tui/html.ts";
import { PrdWizard, type WizardResult } from "./screen.ts";

/** Exit code when the person quits the wizard: 128 + SIGINT, as a shell reports ctrl+c. */
const CANCELLED_EXIT_CODE = 130;

export interface PrdNewOptions {
  /** Where the PRD JSON is written (Smith shape). The CLI's default is `.agents/tasks/prd.json`. */
  outPath: string;
  /** Also write a Markdown copy next to it: `prd.json` → `prd.md`. */
  markdown: boolean;
  /** A PRD to review and edit (e.g. an agent's draft); the wizard then opens on its review screen. */
  initial?: Prd;
  /** Must be a terminal (raw mode). Default process.stdin. */
  stdin?: NodeJS.ReadableStream;
  /** Default process.stdout. */
  stdout?: NodeJS.WritableStream;
  /** Errors and "nothing written". Default process.stderr. */
  stderr?: NodeJS.WritableStream;
}

/** Runs the wizard; 0 when the PRD was written, 130 when the person quit, 2 without a terminal. */
export async function runPrdNew(options: PrdNewOptions): Promise<number> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  if (!isRawModeTerminal(stdin)) {
    stderr.write(
      "smith prd: the wizard needs an interactive terminal (stdin is not a TTY); write the PRD by hand and check it with `smith prd validate`\n",
    );
    return 2;
  }
  const markdownPath = options.markdown ? markdownPathFor(options.outPath) : undefined;
  let result: WizardResult | undefined;
  const app = render(
    html`
      <${PrdWizard}
        initial=${options.initial}
        outPath=${options.outPath}
        markdownPath=${markdownPath}
        overwrites=${existsSync(options.outPath)}
        onDone=${(done: WizardResult) => {
          result = done;
        }}
      />
    `,
    // The wizard handles ctrl+c itself, so that quitting is an outcome (exit 130) rather than Ink
    // tearing down mid-render; a patched console would interleave other output with the frames.
    { stdin, stdout, stderr, exitOnCtrlC: false, patchConsole: false },
  );
  await app.waitUntilExit();
  if (result?.outcome !== "finished") {
    stderr.write("smith prd: quit; nothing written\n");
    return CANCELLED_EXIT_CODE;
  }
  const written = await writePrdFiles(result.prd, { outPath: options.outPath, markdownPath });
  const report = validatePrd(result.prd);
  const n = result.prd.stories.length;
  stdout.write(
    `wrote ${written.join(" and ")} (${n} ${n === 1 ? "story" : "stories"}, readiness ${report.readiness})\n`,
  );
  return 0;
}

/** Writes the PRD JSON (and the Markdown copy), creating directories; returns the paths written. */
export async function writePrdFiles(
  prd: Prd,
  where: { outPath: string; markdownPath?: string | undefined },
): Promise<string[]> {
  const written: string[] = [];
  const targets: Array<[string, string]> = [[where.outPath, serializePrd(prd)]];
  if (where.markdownPath !== undefined) targets.push([where.markdownPath, prdToMarkdown(prd)]);
  for (const [path, text] of targets) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    written.push(path);
  }
  return written;
}

/** `prd.json` → `prd.md`; any other name gets `.md` appended. */
export function markdownPathFor(outPath: string): string {
  return /\.json$/i.test(outPath) ? outPath.replace(/\.json$/i, ".md") : `${outPath}.md`;
}

/** Ink reads keys in raw mode, which only a terminal (or a test's stand-in for one) has. */
function isRawModeTerminal(stream: NodeJS.ReadableStream): boolean {
  return (
    "isTTY" in stream && stream.isTTY === true && "setRawMode" in stream && typeof stream.setRawMode === "function"
  );
}
