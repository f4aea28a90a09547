import { describe, expect, it } from "vitest";
import type { ContextFile } from "../config.ts";
import { resolveConnection, type ConnectionEnv, type ConnectionFlags } from "./connection.ts";
import { UsageError } from "./errors.ts";

const CONFIG = "/home/op/.config/smith/config.json";
const FILE: ContextFile = {
  currentContext: "local",
  contexts: {
    local: { url: "http://127.0.0.1:7070", tokenFile: "local.token" },
    prod: { url: "https://smith.example.com", token: "smt.prod.secret" },
    bare: { url: "http://bare:7070" },
  },
};

const resolve = (flags: ConnectionFlags, env: ConnectionEnv = {}, file: ContextFile = FILE) =>
  resolveConnection(flags, env, file, CONFIG);

describe("resolveConnection", () => {
  it.each<[string, ConnectionFlags, ConnectionEnv, string, string]>([
    [
      "the current context when nothing else is given",
      {},
      {},
      "http://127.0.0.1:7070",
      "file:/home/op/.config/smith/local.token",
    ],
    [
      "env over the current context",
      {},
      { SMITH_API_URL: "http://env:1", SMITH_TOKEN: "env-token" },
      "http://env:1",
      "value:env-token",
    ],
    [
      "flags over env",
      { server: "http://flag:1", token: "flag-token" },
      { SMITH_API_URL: "http://env:1", SMITH_TOKEN: "env-token" },
      "http://flag:1",
      "value:flag-token",
    ],
    [
      "SMITH_CONTEXT picks the context instead of the current one",
      {},
      { SMITH_CONTEXT: "prod" },
      "https://smith.example.com",
      "value:smt.prod.secret",
    ],
    [
      "SMITH_CONTEXT still ranks below SMITH_API_URL / SMITH_TOKEN",
      {},
      { SMITH_CONTEXT: "prod", SMITH_API_URL: "http://env:1", SMITH_TOKEN: "t" },
      "http://env:1",
      "value:t",
    ],
    [
      "--context ranks above the environment",
      { context: "prod" },
      { SMITH_API_URL: "http://env:1", SMITH_TOKEN: "t", SMITH_CONTEXT: "local" },
      "https://smith.example.com",
      "value:smt.prod.secret",
    ],
    [
      "--server and --token rank above --context",
      { context: "prod", server: "http://flag:1", token: "ft" },
      {},
      "http://flag:1",
      "value:ft",
    ],
    [
      "fields resolve one by one: flag URL with the context's token",
      { server: "http://flag:1" },
      {},
      "http://flag:1",
      "file:/home/op/.config/smith/local.token",
    ],
    ["env token with the context's URL", {}, { SMITH_TOKEN: "t" }, "http://127.0.0.1:7070", "value:t"],
    ["a context without a token gives none", { context: "bare" }, {}, "http://bare:7070", "none"],
    [
      "empty env values count as unset",
      {},
      { SMITH_API_URL: "", SMITH_TOKEN: " ", SMITH_CONTEXT: "" },
      "http://127.0.0.1:7070",
      "file:/home/op/.config/smith/local.token",
    ],
  ])("%s", (_name, flags, env, url, token) => {
    const c = resolve(flags, env);
    expect(c.url).toBe(url);
    expect(
      c.token.kind === "value" ? `value:${c.token.value}` : c.token.kind === "file" ? `file:${c.token.path}` : "none",
    ).toBe(token);
  });

  it("keeps an absolute tokenFile as it is", () => {
    const c = resolve(
      {},
      {},
      { currentContext: "a", contexts: { a: { url: "http://a:1", tokenFile: "/run/secrets/smith" } } },
    );
    expect(c.token).toEqual({ kind: "file", path: "/run/secrets/smith", source: "context" });
  });

  it("reports where each value came from and which context supplied one", () => {
    expect(resolve({ server: "http://f:1" }, { SMITH_TOKEN: "t" })).toMatchObject({
      urlSource: "flag",
      token: { source: "env" },
    });
    expect(resolve({ server: "http://f:1" }, { SMITH_TOKEN: "t" }).contextName).toBeUndefined();
    expect(resolve({}, {})).toMatchObject({ urlSource: "context", contextName: "local" });
  });

  it("works without a contexts file when the environment names the server", () => {
    expect(resolve({}, { SMITH_API_URL: "http://env:1" }, { contexts: {} })).toEqual({
      url: "http://env:1",
      urlSource: "env",
      token: { kind: "none" },
    });
  });

  it("is a usage error when no server is configured anywhere, naming all three ways", () => {
    expect(() => resolve({}, {}, { contexts: {} })).toThrow(UsageError);
    expect(() => resolve({}, {}, { contexts: {} })).toThrow(/--server URL.*SMITH_API_URL.*set-context/);
  });

  it("is a usage error when --context or SMITH_CONTEXT names an unknown context, even with a server flag", () => {
    expect(() => resolve({ context: "nope", server: "http://f:1" })).toThrow(
      /context "nope" \(from --context\) is not in/,
    );
    expect(() => resolve({}, { SMITH_CONTEXT: "nope" })).toThrow(/from SMITH_CONTEXT/);
  });

  it("is a usage error when the file's current context does not exist", () => {
    expect(() => resolve({}, {}, { currentContext: "gone", contexts: {} })).toThrow(/current context "gone"/);
  });
});
