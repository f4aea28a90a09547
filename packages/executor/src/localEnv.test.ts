import { describe, expect, it } from "vitest";
import { replicaEnv } from "./localEnv.ts";

describe("local replica env", () => {
  it("replicas inherit only the pass-through variables, never the signing key", () => {
    const env = replicaEnv(
      { PATH: "/bin", SMITH_SIGNING_KEY: "secret", ANTHROPIC_API_KEY: "a", RANDOM: "x" },
      "http://api",
    );
    expect(env).toEqual({ SMITH_API_URL: "http://api", PATH: "/bin", ANTHROPIC_API_KEY: "a" });
  });
});
