import { describe, expect, it } from "vitest";
import { issueIdempotencyKey, parseIssueRef, parseRepoRef, repoFromUrl } from "./refs.ts";

describe("refs", () => {
  it("parses owner/repo#N", () => {
    expect(parseIssueRef("acme/widgets#12")).toEqual({ owner: "acme", name: "widgets", number: 12 });
    expect(issueIdempotencyKey({ owner: "acme", name: "widgets", number: 12 })).toBe("github:acme/widgets#12");
  });
  it.each(["acme/widgets", "acme#1", "acme/widgets#0", "acme/wid gets#1", "-acme/w#1", "a/b/c#1", "acme/..#1"])(
    "refuses %j as an issue",
    (text) => {
      expect(parseIssueRef(text)).toBeUndefined();
    },
  );
  it("parses owner/repo", () => {
    expect(parseRepoRef("acme/widgets.git")).toEqual({ owner: "acme", name: "widgets" });
    expect(parseRepoRef("acme")).toBeUndefined();
  });
  it.each([
    ["https://github.com/acme/widgets.git", { owner: "acme", name: "widgets" }],
    ["https://github.com/acme/widgets", { owner: "acme", name: "widgets" }],
    ["git@github.com:acme/widgets.git", { owner: "acme", name: "widgets" }],
    ["ssh://git@github.com/acme/widgets.git", { owner: "acme", name: "widgets" }],
    ["https://gitlab.com/acme/widgets.git", undefined],
    ["/srv/git/widgets.git", undefined],
    ["file:///srv/git/acme/widgets.git", undefined],
    ["https://github.com/acme/widgets/tree/main", undefined],
  ])("repoFromUrl(%j)", (url, expected) => {
    expect(repoFromUrl(url)).toEqual(expected);
  });
  it("knows GitHub Enterprise hosts with their port", () => {
    expect(repoFromUrl("http://127.0.0.1:4000/acme/w.git", ["127.0.0.1:4000"])).toEqual({ owner: "acme", name: "w" });
    expect(repoFromUrl("http://127.0.0.1:4001/acme/w.git", ["127.0.0.1:4000"])).toBeUndefined();
  });
});
