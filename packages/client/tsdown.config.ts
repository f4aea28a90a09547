import { defineConfig } from "tsdown";

// What `npm pack` ships: compiled ESM and one declaration file. Smith's own workspace packages
// (@smith/api, @smith/core, ...) are not published, so the types the router names are inlined
// into the bundle. The store's etcd client is never bundled: only its module augmentations
// (protobufjs) would survive tree-shaking, and nothing a client sees needs them.
export default defineConfig({
  entry: ["src/index.ts"],
  format: "esm",
  platform: "neutral",
  target: "es2022",
  outDir: "dist",
  clean: true,
  sourcemap: true,
  // A declaration module imported only for a type that tree-shaking dropped must not leave a bare
  // `import "etcd3"` (or node:http) behind in index.d.ts.
  inputOptions: { treeshake: { moduleSideEffects: false } },
  dts: { resolver: "tsc", tsconfig: "tsconfig.build.json" },
  deps: {
    alwaysBundle: [/^@smith\//],
    neverBundle: [/^node:/, "cockatiel", "etcd3", /^@grpc\//, "protobufjs", "long", "prom-client", "pino"],
    // The published files may import only these registry packages (the package's dependencies).
    onlyImport: ["@trpc/client", "@trpc/server", "eventsource", "superjson", "zod"],
  },
});
