// docs/architecture.md's package map, checked against the workspace: a package added, renamed or
// given a new workspace dependency without the map being updated fails here, so it cannot drift.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
}

function read(dir: string): Manifest {
  return JSON.parse(readFileSync(join(ROOT, dir, "package.json"), "utf8")) as Manifest;
}

/** `packages/x` and `apps/y` directories that are workspaces (they have a package.json). */
function workspaceDirs(): string[] {
  return ["packages", "apps"].flatMap((parent) =>
    readdirSync(join(ROOT, parent))
      .map((d) => `${parent}/${d}`)
      .filter((d) => existsSync(join(ROOT, d, "package.json"))),
  );
}

/** Rows of the table under "## Package map": directory → the workspace packages it depends on. */
function mapRows(): Map<string, string[]> {
  const doc = readFileSync(join(ROOT, "docs/architecture.md"), "utf8");
  const section = doc.split(/^## Package map$/m)[1]?.split(/^## /m)[0] ?? "";
  const rows = new Map<string, string[]>();
  for (const line of section.split("\n")) {
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    const dir = /^`((?:packages|apps)\/[^`]+)`$/.exec(cells[0] ?? "")?.[1];
    if (!dir) continue;
    // "a, b (external, libraries)" or "— (zod)": the parenthesis names what is not a workspace.
    const deps = (cells[2] ?? "")
      .replace(/\(.*\)/, "")
      .split(",")
      .map((d) => d.trim())
      .filter((d) => d && d !== "—");
    rows.set(dir, deps.sort());
  }
  return rows;
}

describe("docs/architecture.md package map", () => {
  const dirs = workspaceDirs();
  const rows = mapRows();
  const shortName = new Map(dirs.map((d) => [read(d).name, d.split("/")[1] ?? d]));

  it("has one row per workspace package and app, and none for a directory that is gone", () => {
    expect([...rows.keys()].sort()).toEqual([...dirs].sort());
  });

  it.each(dirs)("%s lists exactly its workspace dependencies", (dir) => {
    const deps = Object.keys(read(dir).dependencies ?? {})
      .filter((n) => n.startsWith("@smith/"))
      .map((n) => shortName.get(n) ?? n)
      .sort();
    expect(rows.get(dir)).toEqual(deps);
  });
});
