// The package as another team installs it: `npm pack` (its prepack builds dist/), the tarball
// installed with npm into a project outside this repository, its declarations type-checked and
// its code run against a live API over real etcd.
import { execFile } from "node:child_process";
import { copyFile, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect } from "vitest";
import { apiTest as test } from "@smith/api/fixtures";

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL("..", import.meta.url));
const consumerDir = join(packageDir, "consumer");
const repoRoot = join(packageDir, "..", "..");
// npm from PATH (it runs on the `node` found there: the provisioned Node 24 in this repo's set-up).
const npm = "npm";
const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
const TYPES_NODE = "@types/node@^24";

async function exec(file: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, args, { cwd, maxBuffer: 16 * 1024 * 1024, timeout: 240_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`, {
      cause: err,
    });
  }
}

describe("@smith/client as a published package", () => {
  test(
    "packs to compiled ESM and bundled declarations that install, type-check and run outside the workspace",
    {
      timeout: 600_000,
    },
    async ({ api, tmpDir }) => {
      const packDir = join(tmpDir, "pack");
      const project = join(tmpDir, "consumer");
      await mkdir(packDir);
      await mkdir(project);

      // 1. npm pack: prepack builds; the workspace manifest is back afterwards.
      const before = await readFile(join(packageDir, "package.json"), "utf8");
      const { stdout } = await exec(npm, ["pack", "--json", "--pack-destination", packDir], packageDir);
      expect(await readFile(join(packageDir, "package.json"), "utf8")).toBe(before);
      const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as {
        filename: string;
        files: { path: string }[];
      }[];
      if (!packed) throw new Error("npm pack reported no tarball");
      expect(packed.files.map((f) => f.path).sort()).toEqual([
        "README.md",
        "dist/index.d.ts",
        "dist/index.js",
        "dist/index.js.map",
        "package.json",
      ]);

      // 2. Installed from the tarball into a project of its own: npm fetches its dependencies from
      // the registry, which fails if any of them were a workspace-only package.
      await writeFile(
        join(project, "package.json"),
        JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2),
      );
      await exec(npm, ["install", "--no-audit", "--no-fund", join(packDir, packed.filename), TYPES_NODE], project);
      const installed = join(project, "node_modules", "@smith", "client");
      const manifest = JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as {
        dependencies: Record<string, string>;
        devDependencies?: unknown;
      };
      expect(Object.keys(manifest.dependencies).sort()).toEqual([
        "@trpc/client",
        "@trpc/server",
        "eventsource",
        "superjson",
        "zod",
      ]);
      expect(manifest.devDependencies).toBeUndefined();
      const dts = await readFile(join(installed, "dist", "index.d.ts"), "utf8");
      const imported = [...dts.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
      expect(new Set(imported)).toEqual(new Set(["@trpc/client", "@trpc/server", "zod"]));
      expect(await readdir(join(installed, "dist"))).not.toContain("index.ts");

      // 3. Type-checked: the correct usage compiles, and each wrong input or output use is an
      // error (consumer/usage.ts marks them with @ts-expect-error, which fails when unused).
      for (const file of ["usage.ts", "run.ts"]) await copyFile(join(consumerDir, file), join(project, file));
      await copyFile(join(consumerDir, "tsconfig.consumer.json"), join(project, "tsconfig.json"));
      await exec(process.execPath, [tsc, "-p", project], project);
      // ...and the checker does see those errors: without the directives, it reports them.
      const usage = await readFile(join(project, "usage.ts"), "utf8");
      await writeFile(join(project, "usage.ts"), usage.replaceAll("// @ts-expect-error", "//"));
      const failed = await exec(process.execPath, [tsc, "-p", project], project).then(
        () => "",
        (err: Error) => err.message,
      );
      expect(failed.match(/usage\.ts\(\d+,\d+\): error TS\d+/g)).toHaveLength(3);
      expect(failed).toMatch(/Type 'number' is not assignable to type 'string'/);
      expect(failed).toMatch(/Property 'owner' does not exist/);

      // 4. Run with Node from node_modules (compiled JS, no type stripping) against the live API.
      const result = await exec(process.execPath, ["run.ts", api.url, api.tokens.operator], project);
      const printed = JSON.parse(result.stdout.trim()) as {
        created: string;
        read: { id: string; state: string };
        first: { id: string; phase: string; message: string };
      };
      expect(printed.read).toEqual({ id: printed.created, state: "unresolved" });
      expect(printed.first).toMatchObject({
        id: "1",
        phase: "lifecycle",
        message: expect.stringMatching(/^loop created/),
      });
      const { loop } = await api.store.loops.getOrThrow(printed.created);
      expect(loop.spec.agent.provider).toBe("replay");
    },
  );
});
