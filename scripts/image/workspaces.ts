/**
 * What goes into an image, derived from the workspace graph so that it cannot drift from the
 * package.json files (a hand-kept list once left `@smith/config` out of the API image).
 *
 *   node scripts/image/workspaces.ts closure apps/api apps/scheduler
 *       prints the workspace folders those apps need at run time (their `dependencies`, followed
 *       through every internal package), one per line
 *   node scripts/image/workspaces.ts stage OUT apps/replica
 *       writes OUT/manifests (the root package.json, the lockfile and every workspace's
 *       package.json: `npm ci` checks the lockfile against all of them) and OUT/sources (the
 *       runtime closure's folders, without tests): what the Dockerfiles copy
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";

export interface Workspace {
  name: string;
  /** Folder relative to the repository root, e.g. `packages/core`. */
  dir: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

interface Manifest {
  name?: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

function readManifest(file: string): Manifest {
  return JSON.parse(readFileSync(file, "utf8")) as Manifest;
}

/** Every workspace of the repository at `root`, from the root package.json's `workspaces`. */
export function workspaceGraph(root: string): Map<string, Workspace> {
  const patterns = readManifest(join(root, "package.json")).workspaces ?? [];
  const dirs: string[] = [];
  for (const pattern of patterns) {
    // npm accepts globs; this repository uses `folder/*` and plain folders only.
    if (pattern.endsWith("/*")) {
      const parent = pattern.slice(0, -2);
      for (const entry of readdirSync(join(root, parent), { withFileTypes: true })) {
        if (entry.isDirectory() && existsSync(join(root, parent, entry.name, "package.json")))
          dirs.push(`${parent}/${entry.name}`);
      }
    } else if (/[*?[\]{}]/.test(pattern)) {
      throw new Error(`workspaces: pattern ${pattern} is not supported (use "folder/*" or a folder)`);
    } else if (existsSync(join(root, pattern, "package.json"))) {
      dirs.push(pattern);
    }
  }
  const graph = new Map<string, Workspace>();
  for (const dir of dirs.sort()) {
    const m = readManifest(join(root, dir, "package.json"));
    if (!m.name) throw new Error(`${dir}/package.json has no name`);
    graph.set(m.name, {
      name: m.name,
      dir,
      dependencies: m.dependencies ?? {},
      devDependencies: m.devDependencies ?? {},
    });
  }
  return graph;
}

/**
 * The workspaces `roots` (names or folders, as npm's `--workspace` takes them) need at run time:
 * the roots and every internal package their `dependencies` reach.
 */
export function runtimeClosure(graph: Map<string, Workspace>, roots: readonly string[]): Workspace[] {
  const seen = new Map<string, Workspace>();
  const byDir = new Map([...graph.values()].map((w) => [w.dir, w.name]));
  const visit = (name: string, from: string) => {
    if (seen.has(name)) return;
    const ws = graph.get(name);
    if (!ws) throw new Error(`${from} needs ${name}, which is not a workspace`);
    seen.set(name, ws);
    for (const dep of Object.keys(ws.dependencies)) if (graph.has(dep)) visit(dep, name);
  };
  for (const root of roots) visit(byDir.get(root.replace(/\/+$/, "")) ?? root, "the image");
  return [...seen.values()].sort((a, b) => a.dir.localeCompare(b.dir));
}

const isTestFile = (name: string) => /\.test\.tsx?$/.test(name) || name === "fixtures.override.test.ts";

/** Writes OUT/manifests and OUT/sources for the image of `roots` (see the file comment). */
export function stage(root: string, out: string, roots: readonly string[]): Workspace[] {
  const graph = workspaceGraph(root);
  const closure = runtimeClosure(graph, roots);
  const manifests = join(out, "manifests");
  const sources = join(out, "sources");
  mkdirSync(manifests, { recursive: true });
  mkdirSync(sources, { recursive: true });
  cpSync(join(root, "package.json"), join(manifests, "package.json"));
  cpSync(join(root, "package-lock.json"), join(manifests, "package-lock.json"));
  for (const ws of graph.values()) {
    mkdirSync(join(manifests, ws.dir), { recursive: true });
    cpSync(join(root, ws.dir, "package.json"), join(manifests, ws.dir, "package.json"));
  }
  for (const ws of closure) {
    cpSync(join(root, ws.dir), join(sources, ws.dir), {
      recursive: true,
      filter: (src) => {
        const rel = relative(join(root, ws.dir), src);
        const top = rel.split("/")[0] ?? "";
        return !["node_modules", "dist", ".turbo"].includes(top) && !isTestFile(basename(src));
      },
    });
  }
  writeFileSync(join(out, "workspaces.txt"), closure.map((w) => `${w.name} ${w.dir}`).join("\n") + "\n");
  return closure;
}

function main(argv: string[]): number {
  const root = join(dirname(new URL(import.meta.url).pathname), "..", "..");
  const [command, ...rest] = argv;
  if (command === "closure" && rest.length > 0) {
    for (const ws of runtimeClosure(workspaceGraph(root), rest)) console.log(ws.dir);
    return 0;
  }
  if (command === "stage" && rest.length > 1) {
    const [out, ...roots] = rest as [string, ...string[]];
    const closure = stage(root, out, roots);
    console.error(`staged ${closure.length} workspaces for ${roots.join(", ")} into ${out}`);
    return 0;
  }
  console.error("usage: workspaces.ts closure WORKSPACE... | workspaces.ts stage OUT WORKSPACE... (names or folders)");
  return 64;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1])
  process.exitCode = main(process.argv.slice(2));
