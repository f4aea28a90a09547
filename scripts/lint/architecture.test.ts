// The guard rails in eslint.config.js, proved to bite: each rule is run through ESLint's Node API
// on a short snippet placed (by filePath) where the rule applies, and must report the exact rule
// id; a clean snippet in the same place must pass. A rule that is misconfigured (a glob that
// matches nothing, a resolver that resolves nothing) passes every file silently, which is why a
// green `npm run lint` alone proves nothing here.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint, type Linter } from "eslint";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
// ignore: false, so that the cycle probe (ignored by the config, see there) is linted too.
const eslint = new ESLint({ cwd: root, overrideConfigFile: join(root, "eslint.config.js"), ignore: false });

async function lint(path: string, code: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  if (!result) throw new Error(`no lint result for ${path}`);
  return result.messages;
}

/** The messages of one rule, so an assertion names the rule that must fire. */
async function reports(path: string, code: string, ruleId: string): Promise<string[]> {
  const messages = await lint(path, code);
  return messages.filter((m) => m.ruleId === ruleId).map((m) => m.message);
}

async function expectClean(path: string, code: string): Promise<void> {
  expect(await lint(path, code)).toEqual([]);
}

describe("import cycles (import-x/no-cycle)", () => {
  // Two real files on disk: the rule follows imports through the file system.
  let dir: string;
  beforeAll(() => {
    mkdirSync(join(root, "scripts/lint"), { recursive: true });
    dir = mkdtempSync(join(root, "scripts/lint/cycleProbe"));
    writeFileSync(join(dir, "first.ts"), 'import { second } from "./second.ts";\nexport const first = () => second;\n');
    writeFileSync(join(dir, "second.ts"), 'import { first } from "./first.ts";\nexport const second = () => first;\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("inside a package", async () => {
    const path = relative(root, join(dir, "first.ts"));
    const code = 'import { second } from "./second.ts";\nexport const first = () => second;\n';
    expect(await reports(path, code, "import-x/no-cycle")).toEqual([expect.stringMatching(/cycle/i)]);
  });

  test("across packages, through the workspace links to their src/", async () => {
    // @smith/api imports @smith/logger; a logger that imported @smith/api back closes a cycle.
    const code = 'import { ApiServer } from "@smith/api";\nexport const server = ApiServer;\n';
    expect(await reports("packages/logger/src/index.ts", code, "import-x/no-cycle")).toEqual([
      expect.stringMatching(/cycle/i),
    ]);
  });

  test("an import that closes no cycle passes", async () => {
    await expectClean("packages/logger/src/probe.ts", 'import { pino } from "pino";\nexport const make = pino;\n');
  });
});

describe("apps never import apps (no-restricted-imports)", () => {
  for (const [from, app] of [
    ["apps/cli/src/probe.ts", "@smith/scheduler-app"],
    ["apps/scheduler/src/probe.ts", "@smith/api-server"],
    ["apps/api/src/probe.ts", "@smith/replica"],
    ["packages/store/src/probe.ts", "@smith/cli"],
  ] as const) {
    test(`${from} importing ${app}`, async () => {
      const code = `import { main } from "${app}";\nexport const run = main;\n`;
      expect(await reports(from, code, "no-restricted-imports")).toEqual([
        expect.stringContaining("Apps never import apps"),
      ]);
    });
  }

  test("an app importing a package passes", async () => {
    await expectClean(
      "apps/cli/src/probe.ts",
      'import { SmithStore } from "@smith/store";\nexport const S = SmithStore;\n',
    );
  });
});

describe("no deep imports into a workspace package", () => {
  for (const from of [
    "apps/cli/src/probe.ts",
    "packages/mcp/src/probe.test.ts",
    "e2e/src/probe.ts",
    "scripts/probe.ts",
  ]) {
    test(`@smith/x/src/... from ${from} (no-restricted-imports)`, async () => {
      const code = 'import { startTestApi } from "@smith/api/src/testSupport.ts";\nexport const s = startTestApi;\n';
      expect(await reports(from, code, "no-restricted-imports")).toEqual([
        expect.stringContaining("not its src/ files"),
      ]);
    });
  }

  test("a relative path into another package (import-x/no-relative-packages)", async () => {
    const code = 'import { startTestApi } from "../../api/src/testSupport.ts";\nexport const s = startTestApi;\n';
    expect(await reports("packages/mcp/src/probe.test.ts", code, "import-x/no-relative-packages")).toHaveLength(1);
  });

  test("a declared subpath export passes", async () => {
    const code = 'import { startTestApi } from "@smith/api/testSupport";\nexport const s = startTestApi;\n';
    await expectClean("packages/mcp/src/probe.test.ts", code);
  });
});

describe("packages/core imports nothing with I/O", () => {
  const file = "packages/core/src/probe.ts";
  for (const spec of [
    "node:fs/promises",
    "fs",
    "child_process",
    "node:net",
    "http",
    "etcd3",
    "pino",
    "@octokit/request",
    "@kubernetes/client-node",
    "@smith/store",
  ]) {
    test(`import from "${spec}" (no-restricted-imports)`, async () => {
      const code = `import { thing } from "${spec}";\nexport const t = thing;\n`;
      const messages = await reports(file, code, "no-restricted-imports");
      expect(messages.length).toBeGreaterThan(0);
      for (const message of messages) expect(message).toContain("packages/core is pure");
    });
  }

  test("a global with I/O (no-restricted-globals)", async () => {
    const code = 'export const get = () => fetch("http://127.0.0.1:1/");\nexport const env = () => process.argv;\n';
    expect(await reports(file, code, "no-restricted-globals")).toHaveLength(2);
  });

  test("a dynamic import (no-restricted-syntax)", async () => {
    const code = 'export const load = () => import("node:fs");\n';
    expect(await reports(file, code, "no-restricted-syntax")).toEqual([expect.stringContaining("dynamic import")]);
  });

  test("zod and its own modules pass", async () => {
    const code =
      'import { z } from "zod";\nimport { newId } from "./ids.ts";\nexport const Id = z.string().default(() => newId());\n';
    await expectClean(file, code);
  });
});

describe("file names (check-file/filename-naming-convention)", () => {
  const code = "export const value = 1;\n";
  for (const path of [
    "packages/store/src/claim-window.ts",
    "packages/store/src/ClaimWindow.ts",
    "packages/store/src/claim_window.test.ts",
    "apps/cli/src/tui/components/loopTable.ts",
    "apps/cli/src/tui/components/loop-table.test.ts",
  ]) {
    test(`${path} is reported`, async () => {
      expect(await reports(path, code, "check-file/filename-naming-convention")).toHaveLength(1);
    });
  }

  for (const path of [
    "packages/store/src/claimWindow.ts",
    "packages/store/src/claimWindow.test.ts",
    "packages/store/src/claimWindow.race.test.ts",
    "apps/cli/src/tui/components/LoopTable.ts",
    "apps/cli/src/tui/components/LoopTable.test.ts",
  ]) {
    test(`${path} passes`, async () => {
      await expectClean(path, code);
    });
  }
});

describe("apps/cli's Ink elements are html templates, not createElement (no-restricted-syntax)", () => {
  const component = "apps/cli/src/tui/components/Probe.ts";
  for (const [how, code] of [
    ["called on React", 'import React from "react";\nexport const e = React.createElement("x");\n'],
    ["imported", 'import { createElement } from "react";\nexport const e = createElement("x");\n'],
    ["imported under another name", 'import { createElement as h } from "react";\nexport const e = h("x");\n'],
    ["destructured", 'import React from "react";\nconst { createElement: h } = React;\nexport const e = h("x");\n'],
    ["by a computed key", 'import React from "react";\nexport const e = React["createElement"]("x");\n'],
    [
      "bound to htm",
      'import htm from "htm";\nimport React from "react";\nexport const html = htm.bind(React.createElement);\n',
    ],
  ] as const) {
    test(`createElement ${how}`, async () => {
      expect(await reports(component, code, "no-restricted-syntax")).toEqual([expect.stringContaining("html`")]);
    });
  }

  test("in the PRD wizard too", async () => {
    const code = 'import React from "react";\nexport const e = React.createElement("x");\n';
    expect(await reports("apps/cli/src/wizard/probe.ts", code, "no-restricted-syntax")).toHaveLength(1);
  });

  test("an html template passes", async () => {
    const code =
      'import { Box, Text } from "ink";\nimport { html } from "../html.ts";\nexport const Probe = ({ name }: { name: string }) => html`\n  <${Box}><${Text} bold>${name}</${Text}></${Box}>\n`;\n';
    await expectClean(component, code);
  });
});

describe("workspace manifests", () => {
  // The same layering one level up, where lint does not look: what the package.json files declare.
  interface Manifest {
    name: string;
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  }
  const manifests = new Map<string, Manifest>();
  for (const parent of ["apps", "packages"]) {
    for (const dir of readdirSync(join(root, parent))) {
      const path = join(root, parent, dir, "package.json");
      if (existsSync(path)) manifests.set(`${parent}/${dir}`, JSON.parse(readFileSync(path, "utf8")) as Manifest);
    }
  }
  const apps = new Set([...manifests].filter(([dir]) => dir.startsWith("apps/")).map(([, m]) => m.name));
  const byName = new Map([...manifests.values()].map((m) => [m.name, m]));

  test("no workspace depends on an app", () => {
    const offenders = [...manifests].flatMap(([dir, m]) =>
      Object.keys({ ...m.dependencies, ...m.devDependencies })
        .filter((dep) => apps.has(dep))
        .map((dep) => `${dir} -> ${dep}`),
    );
    expect(apps.size).toBeGreaterThan(0);
    expect(offenders).toEqual([]);
  });

  test("the workspaces' runtime dependencies form no cycle", () => {
    // Depth-first search over `dependencies` (devDependencies may point back: a package's tests
    // may use a client of it).
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (name: string, path: string[]): void => {
      if (path.includes(name)) {
        cycles.push([...path.slice(path.indexOf(name)), name].join(" -> "));
        return;
      }
      if (done.has(name)) return;
      for (const dep of Object.keys(byName.get(name)?.dependencies ?? {})) {
        if (byName.has(dep)) visit(dep, [...path, name]);
      }
      done.add(name);
    };
    for (const name of byName.keys()) visit(name, []);
    expect(byName.size).toBeGreaterThan(10);
    expect(cycles).toEqual([]);
  });
});
