import { describe, expect, it } from "vitest";
import { contextsTable, redactedContexts } from "./contexts.ts";

describe("contexts", () => {
  const file = {
    currentContext: "local",
    contexts: {
      prod: { url: "https://s", token: "secret" },
      local: { url: "http://127.0.0.1:7070", tokenFile: "/state/admin.token" },
      bare: { url: "http://b" },
    },
  };
  it("lists contexts by name, marks the current one and never shows a token", () => {
    const table = contextsTable(file);
    expect(table.split("\n").map((l) => l.split(/\s{3,}/))).toEqual([
      ["CURRENT", "NAME", "SERVER", "AUTH"],
      ["", "bare", "http://b", "<none>"],
      ["*", "local", "http://127.0.0.1:7070", "token-file /state/admin.token"],
      ["", "prod", "https://s", "token"],
    ]);
    expect(table).not.toContain("secret");
    expect(JSON.stringify(redactedContexts(file))).not.toContain("secret");
    expect(redactedContexts(file).contexts.prod).toEqual({ url: "https://s", token: "REDACTED" });
  });
});
