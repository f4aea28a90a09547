import { describe, expect, it } from "vitest";
import type { ContextFile } from "../config.ts";
import { applySetContext, applyUseContext } from "./contexts.ts";
import { UsageError } from "./errors.ts";

const EMPTY: ContextFile = { contexts: {} };

describe("applySetContext", () => {
  it("creates a context; the first one becomes current, later ones do not", () => {
    const first = applySetContext(EMPTY, "local", { url: "http://127.0.0.1:7070", tokenFile: "admin.token" }, "/work");
    expect(first).toEqual({
      created: true,
      file: {
        currentContext: "local",
        contexts: { local: { url: "http://127.0.0.1:7070", tokenFile: "/work/admin.token" } },
      },
    });
    const second = applySetContext(first.file, "prod", { url: "https://s", token: "t" }, "/work");
    expect(second.file.currentContext).toBe("local");
    expect(second.file.contexts.prod).toEqual({ url: "https://s", token: "t" });
  });

  it("changes only the given fields; a token replaces a token file and the other way round", () => {
    const file: ContextFile = { currentContext: "a", contexts: { a: { url: "http://a:1", tokenFile: "/t" } } };
    expect(applySetContext(file, "a", { token: "x" }, "/")).toEqual({
      created: false,
      file: { currentContext: "a", contexts: { a: { url: "http://a:1", token: "x" } } },
    });
    expect(applySetContext(file, "a", { url: "http://b:2" }, "/").file.contexts.a).toEqual({
      url: "http://b:2",
      tokenFile: "/t",
    });
    expect(
      applySetContext({ contexts: { a: { url: "http://a:1", token: "x" } } }, "a", { tokenFile: "/f" }, "/").file
        .contexts.a,
    ).toEqual({ url: "http://a:1", tokenFile: "/f" });
  });

  it("refuses a new context without a URL, and a URL that is not one", () => {
    expect(() => applySetContext(EMPTY, "x", {}, "/")).toThrow(/--url URL is required/);
    expect(() => applySetContext(EMPTY, "x", { url: "localhost" }, "/")).toThrow(UsageError);
  });
});

describe("applyUseContext", () => {
  it("switches to a known context and names the known ones otherwise", () => {
    const file: ContextFile = { currentContext: "a", contexts: { a: { url: "http://a:1" }, b: { url: "http://b:1" } } };
    expect(applyUseContext(file, "b", "/c.json").currentContext).toBe("b");
    expect(() => applyUseContext(file, "c", "/c.json")).toThrow('no context named "c" in /c.json (known: a, b)');
  });
});
