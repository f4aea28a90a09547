// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "**/.turbo/**", "helm/**", "infra/**"] },
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
      "scripts/**",
      "packages/testing/src/**",
      "**/*.test.ts",
      "**/*.test.tsx",
      "vitest.config.ts",
    ],
    rules: { "no-restricted-properties": "off" },
  },
  {
    // core is pure: zod only.
    files: ["packages/core/src/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["node:*", "etcd3", "fs", "child_process", "net", "http", "@smith/*"],
              message: "packages/core is pure: it imports zod and nothing with I/O.",
            },
          ],
        },
      ],
    },
  },
);
