import { describe, expect, it } from "vitest";
import { parseEnv, replicaEnv } from "./env.ts";

const BASE = { SMITH_SIGNING_KEY: "k".repeat(32), SMITH_API_URL: "http://127.0.0.1:7070" };

describe("scheduler env", () => {
  it("defaults, and per-key limits parsed from key=limit pairs", () => {
    const env = parseEnv({ ...BASE, SMITH_CONCURRENCY_KEYS: "repo-a=2, repo-b=5" });
    expect(env).toMatchObject({ SMITH_EXECUTOR: "local", SMITH_CONCURRENCY_PER_KEY: 1, SMITH_CONCURRENCY_KEYS: { "repo-a": 2, "repo-b": 5 } });
    expect(env.SMITH_REPLICA_COMMAND[1]).toMatch(/apps\/replica\/src\/main\.ts$/);
  });

  it("names the variable that is wrong", () => {
    expect(() => parseEnv({ ...BASE, SMITH_CONCURRENCY_KEYS: "a=0" })).toThrow(/SMITH_CONCURRENCY_KEYS.*key=limit/s);
    expect(() => parseEnv({ ...BASE, SMITH_REPLICA_COMMAND: "node x.ts" })).toThrow(/JSON array/);
    expect(() => parseEnv({ SMITH_SIGNING_KEY: BASE.SMITH_SIGNING_KEY })).toThrow(/SMITH_API_URL/);
    expect(() => parseEnv({ ...BASE, SMITH_EXECUTOR: "nomad" })).toThrow(/SMITH_EXECUTOR/);
  });

  it("replicas inherit only the pass-through variables, never the signing key", () => {
    const env = replicaEnv({ PATH: "/bin", SMITH_SIGNING_KEY: "secret", ANTHROPIC_API_KEY: "a", RANDOM: "x" }, "http://api");
    expect(env).toEqual({ SMITH_API_URL: "http://api", PATH: "/bin", ANTHROPIC_API_KEY: "a" });
  });
});
