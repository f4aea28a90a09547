// Swaps package.json for the published manifest around `npm pack` / `npm publish`.
//
// Inside the monorepo the package resolves to its TypeScript source (Node strips the types);
// a published copy must point at dist/, since Node refuses to strip types under node_modules.
// npm has no `publishConfig.exports`, so `prepack` writes the published manifest and `postpack`
// puts the workspace one back. The workspace manifest is kept beside it until then, so an
// interrupted pack loses nothing: `node scripts/packManifest.ts restore` brings it back.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const manifest = fileURLToPath(new URL("../package.json", import.meta.url));
const saved = fileURLToPath(new URL("../package.workspace.json", import.meta.url));

type Manifest = Record<string, unknown> & { scripts?: Record<string, string> };

function publish(): void {
  if (existsSync(saved)) throw new Error(`${saved} exists: a pack was interrupted; run "restore" first`);
  const pkg = JSON.parse(readFileSync(manifest, "utf8")) as Manifest;
  const { devDependencies: _dev, private: _private, scripts: _scripts, ...rest } = pkg;
  const published: Manifest = {
    ...rest,
    exports: { ".": { types: "./dist/index.d.ts", import: "./dist/index.js" } },
    types: "./dist/index.d.ts",
    files: ["dist", "README.md"],
    sideEffects: false,
    engines: { node: ">=22" },
  };
  renameSync(manifest, saved);
  writeFileSync(manifest, JSON.stringify(published, null, 2) + "\n");
}

function restore(): void {
  if (existsSync(saved)) renameSync(saved, manifest);
}

const command = process.argv[2];
if (command === "publish") publish();
else if (command === "restore") restore();
else {
  console.error("usage: node scripts/packManifest.ts publish|restore");
  process.exit(2);
}
