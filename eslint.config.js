// @ts-check
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import js from "@eslint/js";
import checkFile from "eslint-plugin-check-file";
import { createNodeResolver, importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

// The guard rails of the architecture (docs/architecture.md, "Guard rails"); each rule is proved to
// bite by scripts/lint/architecture.test.ts.

/** The package names of the apps (composition roots), read from apps/* so a new app is covered. */
const appPackages = readdirSync(new URL("./apps/", import.meta.url), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => {
    const manifest = JSON.parse(readFileSync(new URL(`./apps/${entry.name}/package.json`, import.meta.url), "utf8"));
    return /** @type {string} */ (manifest.name);
  });

/** Everywhere: a package is used through its declared exports, never through its files. */
const noDeepImports = {
  group: ["@smith/*/src", "@smith/*/src/**"],
  message: "Import a workspace package through its exports (@smith/x or a declared subpath), not its src/ files.",
};

/** In apps and packages: an app is a composition root, nothing imports it. */
const noAppImports = {
  group: appPackages.flatMap((name) => [name, `${name}/**`]),
  message: "Apps never import apps (and packages never import an app): move the shared code into a package.",
};

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "**/.turbo/**",
      "helm/**",
      "infra/**",
      // The cycle that scripts/lint/architecture.test.ts writes while it runs (it lints it with
      // ignores off); a run killed before its cleanup must not fail `npm run lint`.
      "scripts/lint/cycleProbe*/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        AbortController: "readonly",
        AbortSignal: "readonly",
        TextEncoder: "readonly",
        TextDecoder: "readonly",
        structuredClone: "readonly",
        queueMicrotask: "readonly",
        setImmediate: "readonly",
        fetch: "readonly",
        Response: "readonly",
        Request: "readonly",
        Headers: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": [
        "error",
        { prefer: "type-imports", fixStyle: "inline-type-imports" },
      ],
      "@typescript-eslint/no-non-null-assertion": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read env once, in an app's env.ts; libraries take options." },
      ],
      "no-restricted-imports": ["error", { patterns: [noDeepImports] }],
    },
  },
  {
    // Import graph: no cycles (inside a package or across packages, which resolve through the
    // workspace links in node_modules to their src/), and no relative path into another package.
    files: ["**/*.{ts,tsx,js,mjs}"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".tsx", ".js", ".mjs"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts", ".tsx"] },
      // Workspace packages are ours: no-cycle follows them (ignoreExternal skips only node_modules).
      "import-x/internal-regex": "^@smith/",
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".tsx", ".js", ".mjs", ".json"] })],
    },
    rules: {
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "import-x/no-relative-packages": "error",
    },
  },
  {
    // Apps and packages never import an app.
    files: ["apps/**", "packages/**"],
    rules: { "no-restricted-imports": ["error", { patterns: [noDeepImports, noAppImports] }] },
  },
  {
    // core is pure: zod and its own modules, nothing with I/O (no Node builtin, no etcd3, no
    // network or process package, no other workspace package). An allow-list, so a new I/O
    // package cannot slip in under a name the list forgot.
    files: ["packages/core/src/**"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(?!(zod|zod/.*|\\.\\.?/.*)$)",
              message: "packages/core is pure: it imports zod and its own modules, nothing with I/O.",
            },
            {
              // Named apart so that a builtin gets the precise message (the allow-list above
              // covers them too).
              group: ["node:*", ...builtinModules],
              message: "packages/core is pure: no Node builtin (file system, network, processes).",
            },
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        ...["process", "fetch", "console", "WebSocket", "require"].map((name) => ({
          name,
          message: "packages/core is pure: I/O and process state belong to adapters and apps.",
        })),
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "ImportExpression", message: "packages/core is pure: no dynamic import." },
      ],
    },
  },
  {
    // File names: camelCase (the part before the first dot: fooBar.ts, fooBar.test.ts, vitest.config.ts).
    files: ["**/*.{ts,tsx,js,mjs}"],
    plugins: { "check-file": checkFile },
    rules: {
      "check-file/filename-naming-convention": [
        "error",
        { "**/*.{ts,tsx,js,mjs}": "CAMEL_CASE" },
        { ignoreMiddleExtensions: true },
      ],
    },
  },
  {
    // Ink components are PascalCase, as the component they export.
    files: ["apps/cli/src/tui/components/**"],
    rules: {
      "check-file/filename-naming-convention": [
        "error",
        { "**/*.{ts,tsx}": "PASCAL_CASE" },
        { ignoreMiddleExtensions: true },
      ],
    },
  },
  {
    // apps/cli's Ink components (the TUI's and the PRD wizard's) are html`…` templates, the tag in
    // apps/cli/src/tui/html.ts, so that they read like Ink's JSX examples: no createElement, called,
    // imported, destructured or bound under another name.
    files: ["apps/cli/src/**"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector:
            ":matches(Identifier[name='createElement'], Literal[value='createElement']):matches(.property, .imported, .key)",
          message:
            "Write Ink elements as html`<${Box}>…</${Box}>` templates (apps/cli/src/tui/html.ts), not createElement calls.",
        },
      ],
    },
  },
  {
    // Composition roots and tooling may read the environment.
    files: [
      "apps/*/src/env.ts",
      "apps/*/src/main.ts",
      "apps/cli/src/smith.ts",
      "apps/cli/src/smithctl.ts",
      "e2e/**",
      "apps/*/src/**/env.ts",
      "apps/*/src/**/main.ts",
      "scripts/**",
      "packages/testing/src/**",
      "**/*.test.ts",
      "**/*.test.tsx",
      "vitest.config.ts",
    ],
    rules: { "no-restricted-properties": "off" },
  },
);
