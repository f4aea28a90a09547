import { describe, expect, it } from "vitest";
import { detectGates, makefileHasTest, packageManagerOf, type RepoFiles } from "./gateDetection.ts";

const pkg = (scripts: Record<string, string>, deps: Record<string, string> = {}) =>
  JSON.stringify({ name: "x", scripts, devDependencies: deps });

describe("detectGates", () => {
  const cases: { name: string; files: RepoFiles; gates: string[]; setup?: string[]; sources?: string[] }[] = [
    { name: "an empty repository has none", files: { rootFiles: ["README.md"] }, gates: [] },
    {
      name: "npm scripts test, lint, typecheck in that order",
      files: {
        rootFiles: ["package.json", "package-lock.json"],
        packageJson: pkg({ typecheck: "tsc", lint: "eslint .", test: "vitest run", build: "tsc -b" }),
      },
      gates: ["npm test", "npm run lint", "npm run typecheck"],
      sources: [
        "package.json scripts.test (npm)",
        "package.json scripts.lint (npm)",
        "package.json scripts.typecheck (npm)",
      ],
    },
    {
      name: "npm's placeholder test script is no gate",
      files: {
        rootFiles: ["package.json"],
        packageJson: pkg({ test: 'echo "Error: no test specified" && exit 1' }),
      },
      gates: [],
    },
    {
      name: "pnpm lockfile: pnpm, installed from the lockfile when there are dependencies",
      files: { rootFiles: ["package.json", "pnpm-lock.yaml"], packageJson: pkg({ test: "jest" }, { jest: "^29" }) },
      gates: ["pnpm test"],
      setup: ["pnpm install --frozen-lockfile"],
    },
    {
      name: "yarn lockfile: yarn",
      files: { rootFiles: ["package.json", "yarn.lock"], packageJson: pkg({ test: "jest", lint: "eslint" }) },
      gates: ["yarn test", "yarn run lint"],
    },
    {
      name: "bun: the package's test script, not bun's own runner",
      files: { rootFiles: ["package.json", "bun.lock"], packageJson: pkg({ test: "bun test" }) },
      gates: ["bun run test"],
    },
    {
      name: "npm with dependencies and a lockfile installs with npm ci",
      files: {
        rootFiles: ["package.json", "package-lock.json"],
        packageJson: pkg({ test: "vitest" }, { vitest: "1" }),
      },
      gates: ["npm test"],
      setup: ["npm ci --no-audit --no-fund"],
    },
    {
      name: "no lockfile: nothing to install from",
      files: { rootFiles: ["package.json"], packageJson: pkg({ test: "vitest" }, { vitest: "1" }) },
      gates: ["npm test"],
      setup: [],
    },
    {
      name: "unparseable package.json is skipped",
      files: { rootFiles: ["package.json", "go.mod"], packageJson: "{ nope" },
      gates: ["go test ./..."],
    },
    {
      name: "a Makefile test target stands for the ecosystems' tests",
      files: {
        rootFiles: ["Makefile", "go.mod", "package.json"],
        makefile: "build:\n\tgo build\n\ntest: build\n\tgo test ./...\n",
        packageJson: pkg({ test: "jest", lint: "eslint ." }),
      },
      gates: ["npm run lint", "make test"],
    },
    {
      name: "a Makefile variable named test is no target",
      files: { rootFiles: ["Makefile"], makefile: "test:=1\nall:\n\techo\n" },
      gates: [],
    },
    {
      name: "pytest from pyproject",
      files: {
        rootFiles: ["pyproject.toml"],
        pyprojectToml: '[project]\nname="x"\n\n[tool.pytest.ini_options]\naddopts="-q"\n',
      },
      gates: ["python -m pytest"],
    },
    {
      name: "pytest as a dependency in pyproject",
      files: {
        rootFiles: ["pyproject.toml"],
        pyprojectToml: '[project.optional-dependencies]\ntest = ["pytest>=8"]\n',
      },
      gates: ["python -m pytest"],
    },
    {
      name: "pyproject without pytest is no gate",
      files: { rootFiles: ["pyproject.toml"], pyprojectToml: '[project]\nname="x"\n' },
      gates: [],
    },
    { name: "pytest.ini", files: { rootFiles: ["pytest.ini"] }, gates: ["python -m pytest"] },
    {
      name: "setup.cfg tool:pytest",
      files: { rootFiles: ["setup.cfg"], setupCfg: "[metadata]\nname=x\n[tool:pytest]\n" },
      gates: ["python -m pytest"],
    },
    { name: "go.mod", files: { rootFiles: ["go.mod"] }, gates: ["go test ./..."] },
    { name: "Cargo.toml", files: { rootFiles: ["Cargo.toml"] }, gates: ["cargo test"] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = detectGates(c.files);
      expect(d.gates).toEqual(c.gates);
      expect(d.sources).toHaveLength(c.gates.length);
      if (c.setup) expect(d.setup).toEqual(c.setup);
      if (c.sources) expect(d.sources).toEqual(c.sources);
    });
  }
});

describe("packageManagerOf", () => {
  it.each([
    [["pnpm-lock.yaml", "package-lock.json"], "pnpm"],
    [["yarn.lock"], "yarn"],
    [["bun.lockb"], "bun"],
    [["package-lock.json"], "npm"],
    [[], "npm"],
  ] as const)("%j -> %s", (files, pm) => expect(packageManagerOf(files)).toBe(pm));
});

describe("makefileHasTest", () => {
  it.each([
    ["test:\n\tgo test\n", true],
    ["test: build lint\n", true],
    [".PHONY: test\ntest :\n", true],
    ["unittest:\n", false],
    ["test:=x\n", false],
    ["# test:\n", false],
  ] as const)("%j -> %s", (text, expected) => expect(makefileHasTest(text)).toBe(expected));
});
