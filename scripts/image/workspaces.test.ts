import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { runtimeClosure, stage, workspaceGraph, type Workspace } from "./workspaces.ts";

const root = join(import.meta.dirname, "..", "..");

/** The images and the apps each one runs (infra/docker). */
const IMAGES: Record<string, string[]> = {
  "infra/docker/Dockerfile": ["apps/api", "apps/scheduler"],
  "infra/docker/Dockerfile.replica": ["apps/replica"],
};

/**
 * The packages a file imports at run time. Type-only imports and re-exports are left out: Node's
 * type stripping erases them, so they need no runtime dependency.
 */
function runtimeImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const specs: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause?.isTypeOnly ||
        (clause !== undefined &&
          clause.name === undefined &&
          clause.namedBindings !== undefined &&
          ts.isNamedImports(clause.namedBindings) &&
          clause.namedBindings.elements.length > 0 &&
          clause.namedBindings.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) specs.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.isTypeOnly) specs.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specs.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return specs;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`; relative and node: built-ins → undefined. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith(".") || spec.startsWith("/") || spec.startsWith("node:")) return undefined;
  const parts = spec.split("/");
  const name = spec.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? spec);
  return builtinModules.includes(name) ? undefined : name;
}

/** The file a workspace's `exports` map sends `spec` (`@smith/x` or `@smith/x/sub`) to. */
function entryOf(ws: Workspace, spec: string): string {
  const manifest = JSON.parse(readFileSync(join(root, ws.dir, "package.json"), "utf8")) as {
    exports?: Record<string, string>;
  };
  const sub = "." + spec.slice(ws.name.length);
  const target = manifest.exports?.[sub];
  if (!target) throw new Error(`${spec}: ${ws.dir}/package.json exports no ${sub}`);
  return join(root, ws.dir, target);
}

/**
 * Follows the imports Node would load from the images' entry points (relative files, and
 * internal packages through their `exports`), and reports every package reached that the
 * importing workspace does not declare in `dependencies`, or that the image leaves out.
 */
function missingDependencies(closure: Workspace[], graph: Map<string, Workspace>, entries: string[]): string[] {
  const problems = new Set<string>();
  const inImage = new Set(closure.map((w) => w.name));
  const owner = (file: string) =>
    [...graph.values()].find((w) => file.startsWith(join(root, w.dir) + "/")) ?? fail(`${file} is in no workspace`);
  const seen = new Set<string>();
  const queue = [...entries];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const ws = owner(file);
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith(".")) {
        queue.push(join(file, "..", spec));
        continue;
      }
      const pkg = packageOf(spec);
      if (!pkg || pkg === ws.name) continue;
      const where = `${file.slice(root.length + 1)} imports ${spec}`;
      if (!(pkg in ws.dependencies)) problems.add(`${where}, not in ${ws.dir}'s dependencies`);
      const target = graph.get(pkg);
      if (!target) continue;
      if (!inImage.has(pkg)) problems.add(`${where}, and ${target.dir} is not in the image`);
      else queue.push(entryOf(target, spec));
    }
  }
  return [...problems];
}

function fail(message: string): never {
  throw new Error(message);
}

/** An app's entry point: its package.json `bin` (what the image's commands run). */
function entryPoints(graph: Map<string, Workspace>, dirs: string[]): string[] {
  return dirs.flatMap((dir) => {
    const manifest = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as {
      bin?: Record<string, string>;
    };
    const bins = Object.values(manifest.bin ?? {});
    if (bins.length === 0) throw new Error(`${dir}/package.json has no bin`);
    expect(graph.size).toBeGreaterThan(0);
    return bins.map((b) => join(root, dir, b));
  });
}

describe("image contents follow the workspace graph", () => {
  const graph = workspaceGraph(root);

  for (const [dockerfile, apps] of Object.entries(IMAGES)) {
    it(`${dockerfile}: every runtime import of ${apps.join(" + ")} is a declared dependency inside the image`, () => {
      const closure = runtimeClosure(graph, apps);
      expect(missingDependencies(closure, graph, entryPoints(graph, apps))).toEqual([]);
    });

    it(`${dockerfile} stages its workspaces with the script, not a hand-kept list`, () => {
      const text = readFileSync(join(root, dockerfile), "utf8");
      expect(text).toContain(`scripts/image/workspaces.ts stage /out ${apps.join(" ")}`);
      // A COPY of a single workspace folder is how the list drifted before.
      expect(text).not.toMatch(/^COPY (packages|apps)\//m);
    });
  }

  it("finds a runtime dependency the image leaves out (regression: @smith/config was not copied)", () => {
    const closure = runtimeClosure(graph, ["apps/api"]).filter((w) => w.dir !== "packages/store");
    const problems = missingDependencies(closure, graph, entryPoints(graph, ["apps/api"]));
    expect(problems.some((p) => p.includes("@smith/store") && p.includes("not in the image"))).toBe(true);
  });

  it("finds an import its package.json does not declare", () => {
    const api = graph.get("@smith/api-server") ?? fail("no @smith/api-server");
    const forgetful = { ...api, dependencies: { ...api.dependencies } };
    delete forgetful.dependencies["@smith/store"];
    const g = new Map(graph).set(api.name, forgetful);
    const problems = missingDependencies(runtimeClosure(g, ["apps/api"]), g, entryPoints(g, ["apps/api"]));
    expect(problems.some((p) => p.includes("@smith/store") && p.includes("not in apps/api's dependencies"))).toBe(true);
  });

  it("type-only imports need no runtime dependency", () => {
    const closure = runtimeClosure(graph, ["apps/replica"]);
    // The replica imports only the client's types from @smith/api; the API server is not in its image.
    expect(closure.map((w) => w.name)).not.toContain("@smith/api");
  });

  it("stage writes every manifest (npm ci checks the lockfile against all) and only the closure's sources", () => {
    const out = mkdtempSync(join(tmpdir(), "smith-stage-"));
    try {
      const closure = stage(root, out, ["apps/replica"]);
      for (const ws of graph.values()) expect(existsSync(join(out, "manifests", ws.dir, "package.json"))).toBe(true);
      expect(existsSync(join(out, "manifests", "package-lock.json"))).toBe(true);
      for (const ws of closure) expect(existsSync(join(out, "sources", ws.dir, "package.json"))).toBe(true);
      expect(existsSync(join(out, "sources", "packages", "testing"))).toBe(false);
      const staged = readdirSync(join(out, "sources", "packages", "core", "src"), { recursive: true }).map(String);
      expect(staged.some((f) => f.endsWith(".test.ts"))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
