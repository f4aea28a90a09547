/**
 * Quality gates detected from a repository when neither the PRD nor the loop spec names any: a
 * loop without gates would take the agent's word for every story. Pure: the replica reads the few
 * files this needs and passes their text in.
 */
export interface RepoFiles {
  /** Names of the files at the repository's root. */
  rootFiles: readonly string[];
  packageJson?: string | undefined;
  makefile?: string | undefined;
  pyprojectToml?: string | undefined;
  setupCfg?: string | undefined;
}

export interface DetectedGates {
  /** The gate commands, in the order they run. */
  gates: string[];
  /** For each gate, what it was detected from (for the journal), e.g. `package.json scripts.test (npm)`. */
  sources: string[];
  /** Commands that prepare the workspace before any gate (installing dependencies from the lockfile). */
  setup: string[];
}

export type PackageManager = "npm" | "pnpm" | "yarn" | "bun";

/** The package manager a lockfile names; npm when there is none. */
export function packageManagerOf(rootFiles: readonly string[]): PackageManager {
  const has = (f: string) => rootFiles.includes(f);
  if (has("pnpm-lock.yaml")) return "pnpm";
  if (has("yarn.lock")) return "yarn";
  if (has("bun.lockb") || has("bun.lock")) return "bun";
  return "npm";
}

const INSTALL: Record<PackageManager, { lockfile: string[]; command: string }> = {
  npm: { lockfile: ["package-lock.json", "npm-shrinkwrap.json"], command: "npm ci --no-audit --no-fund" },
  pnpm: { lockfile: ["pnpm-lock.yaml"], command: "pnpm install --frozen-lockfile" },
  yarn: { lockfile: ["yarn.lock"], command: "yarn install --frozen-lockfile" },
  bun: { lockfile: ["bun.lockb", "bun.lock"], command: "bun install --frozen-lockfile" },
};

/** `npm init`'s placeholder test script fails on purpose: it is no test. */
const PLACEHOLDER_TEST = /no test specified/i;

function scriptCommand(pm: PackageManager, script: string): string {
  // `bun test` is bun's own test runner, not the package's script; `npm test` is the script.
  if (script === "test" && pm !== "bun") return `${pm} test`;
  return `${pm} run ${script}`;
}

function packageScripts(text: string): { scripts: Record<string, string>; hasDependencies: boolean } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const obj = parsed as Record<string, unknown>;
  const scripts: Record<string, string> = {};
  if (typeof obj.scripts === "object" && obj.scripts !== null) {
    for (const [k, v] of Object.entries(obj.scripts as Record<string, unknown>))
      if (typeof v === "string") scripts[k] = v;
  }
  const nonEmpty = (v: unknown) => typeof v === "object" && v !== null && Object.keys(v).length > 0;
  return { scripts, hasDependencies: nonEmpty(obj.dependencies) || nonEmpty(obj.devDependencies) };
}

/** True when a Makefile has a `test` target (`test:` at the start of a line, not `test:=`). */
export function makefileHasTest(text: string): boolean {
  return /^test\s*:(?!=)/m.test(text);
}

function usesPytest(files: RepoFiles): boolean {
  if (files.rootFiles.includes("pytest.ini") || files.rootFiles.includes("conftest.py")) return true;
  if (files.pyprojectToml && /^\[tool\.pytest(\.ini_options)?\]/m.test(files.pyprojectToml)) return true;
  if (files.pyprojectToml && /["']pytest[<>=~!\s"'\]]/.test(files.pyprojectToml)) return true;
  if (files.setupCfg && /^\[tool:pytest\]/m.test(files.setupCfg)) return true;
  return false;
}

/**
 * The gates a repository declares through its own tooling:
 * - package.json scripts `test`, `lint`, `typecheck` run with the lockfile's package manager
 *   (npm ci / pnpm / yarn / bun install from the lockfile first, when there are dependencies);
 * - a Makefile `test` target (`make test`), which then stands for the tests of every ecosystem
 *   below, since a project's Makefile is usually what wraps them;
 * - pytest configured in pyproject.toml, setup.cfg, pytest.ini or conftest.py (`python -m pytest`);
 * - go.mod (`go test ./...`); Cargo.toml (`cargo test`).
 */
export function detectGates(files: RepoFiles): DetectedGates {
  const out: DetectedGates = { gates: [], sources: [], setup: [] };
  const add = (gate: string, source: string) => {
    if (out.gates.includes(gate)) return;
    out.gates.push(gate);
    out.sources.push(source);
  };
  const makeTest = files.makefile !== undefined && makefileHasTest(files.makefile);
  const pkg = files.packageJson !== undefined ? packageScripts(files.packageJson) : undefined;
  if (pkg) {
    const pm = packageManagerOf(files.rootFiles);
    const install = INSTALL[pm];
    if (pkg.hasDependencies && install.lockfile.some((f) => files.rootFiles.includes(f)))
      out.setup.push(install.command);
    for (const script of ["test", "lint", "typecheck"]) {
      const body = pkg.scripts[script];
      if (body === undefined || !body.trim()) continue;
      if (script === "test" && (PLACEHOLDER_TEST.test(body) || makeTest)) continue;
      add(scriptCommand(pm, script), `package.json scripts.${script} (${pm})`);
    }
  }
  if (makeTest) add("make test", "Makefile target test");
  else {
    if (usesPytest(files)) add("python -m pytest", "pytest configuration");
    if (files.rootFiles.includes("go.mod")) add("go test ./...", "go.mod");
    if (files.rootFiles.includes("Cargo.toml")) add("cargo test", "Cargo.toml");
  }
  return out;
}
