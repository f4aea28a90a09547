import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The demo: a small Node project in a bare git remote, a 3-story PRD, and replay recordings
 * that implement each story, so that a loop runs end to end with no network and no API key.
 * `smith up --demo` and the end-to-end tests both use it.
 */
export interface DemoRepository {
  /** The bare remote (a local path git can clone and push to). */
  remoteUrl: string;
  /** Absolute directory of replay recordings, one folder per story id. */
  replayDir: string;
  /** PRD path inside the repository. */
  prdPath: string;
  /** The PRD as JSON text. */
  prd: string;
  storyIds: string[];
}

export const DEMO_PRD = {
  version: 1,
  project: "calc",
  overview: "A tiny arithmetic library, built story by story by a Smith loop.",
  goals: ["add, multiply and sum numbers", "every function has a test"],
  nonGoals: ["floating-point edge cases"],
  qualityGates: ["node --test"],
  stories: [
    {
      id: "US-001",
      title: "Add two numbers",
      status: "open",
      dependsOn: [],
      description: "Export add(a, b) from src/add.js.",
      acceptanceCriteria: ["add(2, 3) returns 5", "a test covers it"],
    },
    {
      id: "US-002",
      title: "Multiply two numbers",
      status: "open",
      dependsOn: [],
      description: "Export multiply(a, b) from src/multiply.js.",
      acceptanceCriteria: ["multiply(4, 5) returns 20", "a test covers it"],
    },
    {
      id: "US-003",
      title: "Sum a list using add",
      status: "open",
      dependsOn: ["US-001"],
      description: "Export sum(list) from src/sum.js, built on add.",
      acceptanceCriteria: ["sum([1, 2, 3]) returns 6", "sum([]) returns 0", "a test covers it"],
    },
  ],
};

const RECORDINGS: Record<string, Record<string, string>> = {
  "US-001": {
    "src/add.js": "export function add(a, b) {\n  return a + b;\n}\n",
    "test/add.test.js":
      'import { test } from "node:test";\nimport assert from "node:assert/strict";\nimport { add } from "../src/add.js";\n\ntest("add", () => {\n  assert.equal(add(2, 3), 5);\n});\n',
  },
  "US-002": {
    "src/multiply.js": "export function multiply(a, b) {\n  return a * b;\n}\n",
    "test/multiply.test.js":
      'import { test } from "node:test";\nimport assert from "node:assert/strict";\nimport { multiply } from "../src/multiply.js";\n\ntest("multiply", () => {\n  assert.equal(multiply(4, 5), 20);\n});\n',
  },
  "US-003": {
    "src/sum.js": 'import { add } from "./add.js";\n\nexport function sum(list) {\n  return list.reduce(add, 0);\n}\n',
    "test/sum.test.js":
      'import { test } from "node:test";\nimport assert from "node:assert/strict";\nimport { sum } from "../src/sum.js";\n\ntest("sum", () => {\n  assert.equal(sum([1, 2, 3]), 6);\n  assert.equal(sum([]), 0);\n});\n',
  },
};

function write(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

function git(cwd: string, args: string[], base: NodeJS.ProcessEnv): void {
  execFileSync("git", args, {
    cwd,
    stdio: "ignore",
    env: {
      ...base,
      GIT_AUTHOR_NAME: "Smith demo",
      GIT_AUTHOR_EMAIL: "demo@smith.local",
      GIT_COMMITTER_NAME: "Smith demo",
      GIT_COMMITTER_EMAIL: "demo@smith.local",
    },
  });
}

/** Creates the demo under `dir`: `dir/calc.git` (remote), `dir/replay/` (recordings). */
export function createDemoRepository(
  dir: string,
  options: {
    prd?: object;
    recordings?: Record<string, Record<string, string>>;
    /** Environment for git (PATH, HOME). */ env: NodeJS.ProcessEnv;
  },
): DemoRepository {
  const remote = join(dir, "calc.git");
  const seed = join(dir, "calc-seed");
  const replayDir = join(dir, "replay");
  const prdPath = ".agents/tasks/prd.json";
  const prd = JSON.stringify(options.prd ?? DEMO_PRD, null, 2) + "\n";
  mkdirSync(dir, { recursive: true });
  git(dir, ["init", "--quiet", "--bare", "--initial-branch=main", remote], options.env);
  mkdirSync(seed, { recursive: true });
  git(seed, ["init", "--quiet", "--initial-branch=main"], options.env);
  write(seed, {
    "package.json":
      JSON.stringify(
        { name: "calc", version: "0.0.0", private: true, type: "module", scripts: { test: "node --test" } },
        null,
        2,
      ) + "\n",
    "README.md": "# calc\n\nBuilt by a Smith loop.\n",
    [prdPath]: prd,
  });
  git(seed, ["add", "--all"], options.env);
  git(seed, ["commit", "--quiet", "-m", "chore: project skeleton and PRD"], options.env);
  git(seed, ["push", "--quiet", remote, "main"], options.env);
  const recordings = options.recordings ?? RECORDINGS;
  for (const [story, files] of Object.entries(recordings)) write(join(replayDir, story, "files"), files);
  return { remoteUrl: remote, replayDir, prdPath, prd, storyIds: Object.keys(recordings) };
}
