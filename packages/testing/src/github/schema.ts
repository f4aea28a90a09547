import { buildSchema, type GraphQLSchema } from "graphql";
import { readFile } from "node:fs/promises";

let cached: Promise<GraphQLSchema> | undefined;

/**
 * GitHub's published GraphQL schema (`@octokit/graphql-schema`), built once per process: it is
 * 1.2 MB of SDL and takes seconds to build on a busy machine.
 *
 * `assumeValidSDL`: the published SDL defines two fields of `EnterpriseOwnerInfo` twice, which
 * graphql-js's SDL validation refuses; documents are still validated against the built schema.
 */
export function githubSchema(): Promise<GraphQLSchema> {
  cached ??= readFile(new URL("./schema.graphql", import.meta.resolve("@octokit/graphql-schema")), "utf8").then((sdl) =>
    buildSchema(sdl, { assumeValidSDL: true }),
  );
  return cached;
}
