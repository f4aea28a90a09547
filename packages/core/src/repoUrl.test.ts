import { describe, expect, it } from "vitest";
import { isSmithError } from "./errors.ts";
import { CreateLoopInput } from "./loop.ts";
import { checkRepoUrl, classifyRepoUrl, gitProtocolOf, repoUrlProblem } from "./repoUrl.ts";

describe("classifyRepoUrl", () => {
  it.each([
    ["https://github.com/acme/app.git", "https"],
    ["https://git.example.com:8443/acme/app", "https"],
    ["ssh://git@github.com/acme/app.git", "ssh"],
    ["ssh://github.com:2222/acme/app.git", "ssh"],
    ["git+ssh://git@host/acme/app", "ssh"],
    ["git@github.com:acme/app.git", "scp"],
    ["deploy@10.0.0.7:repos/app", "scp"],
    ["file:///srv/git/app.git", "file"],
    ["/srv/git/app.git", "path"],
    ["http://127.0.0.1:8080/app.git", "http"],
  ])("accepts %s as %s", (url, kind) => {
    expect(classifyRepoUrl(url)).toEqual({ kind });
  });

  it.each([
    ["", /empty/],
    [" https://github.com/a/b", /whitespace/],
    ["https://github.com/a/b\n", /whitespace/],
    ["https://github.com/a/b\nx", /control characters/],
    ["https://github.com/a/\u001b[2Jb", /control characters/],
    ["--upload-pack=touch /tmp/pwned", /start with `-`/],
    ["-u/tmp/x", /start with `-`/],
    ["ext::sh -c touch% /tmp/pwned", /remote helper/],
    ["fd::17", /remote helper/],
    ["EXT::sh", /remote helper/],
    ["transport::anything", /remote helper/],
    ["https://x-access-token:ghp_secret@github.com/a/b", /credentials/],
    ["https://ghp_secret@github.com/a/b", /credentials/],
    ["http://user:pw@127.0.0.1/a", /credentials/],
    ["ssh://git:hunter2@host/a", /credentials/],
    ["user:pw@host:path", /credentials/],
    ["ssh://-oProxyCommand=touch%20x/a", /starting with `-`/],
    ["ssh://-oProxyCommand=x@host/a", /starting with `-`/],
    ["-oProxyCommand=x@host:path", /start with `-`/],
    ["git@-oProxyCommand=x:path", /starting with `-`/],
    ["git://github.com/a/b", /git:\/\//],
    ["ftp://host/a", /ftp:\/\//],
    ["relative/path", /user@host:path/],
    ["host:path", /user@host:path/],
    ["https://", /valid URL|host/],
  ])("refuses %j", (url, problem) => {
    const c = classifyRepoUrl(url);
    expect("problem" in c ? c.problem : `accepted as ${c.kind}`).toMatch(problem);
  });

  it("never repeats the URL (it may carry a secret) in the problem", () => {
    const c = classifyRepoUrl("https://x:ghp_secret@github.com/a/b");
    expect(JSON.stringify(c)).not.toContain("ghp_secret");
  });
});

describe("repoUrlProblem and checkRepoUrl", () => {
  it("refuses local repositories unless the policy allows them", () => {
    for (const url of ["file:///etc", "/etc", "http://127.0.0.1/a.git"]) {
      expect(repoUrlProblem(url)).toMatch(/SMITH_ALLOW_LOCAL_REPOS/);
      expect(repoUrlProblem(url, { allowLocal: true })).toBeUndefined();
    }
    expect(repoUrlProblem("https://github.com/a/b")).toBeUndefined();
  });

  it("is a typed invalid_argument naming the field", () => {
    const err = checkRepoUrl("ext::sh -c id", {}, "items[2].spec.repo.url");
    expect(isSmithError(err, "invalid_argument")).toBe(true);
    expect(err?.details.field).toBe("items[2].spec.repo.url");
    expect(err?.message).toMatch(/^items\[2\]\.spec\.repo\.url: must not name a git remote helper/);
    expect(checkRepoUrl("git@github.com:a/b.git")).toBeUndefined();
  });
});

describe("CreateLoopInput refuses what no installation accepts", () => {
  const input = (url: string) => ({ spec: { repo: { url }, prd: { kind: "path" } } });

  it.each(["--upload-pack=x", "ext::sh -c id", "fd::3", "https://tok@github.com/a/b"])("%j", (url) => {
    const r = CreateLoopInput.safeParse(input(url));
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join("."))).toEqual(["spec.repo.url"]);
  });

  it("leaves the local decision to the API (a test stack allows it)", () => {
    expect(CreateLoopInput.safeParse(input("/srv/git/app.git")).success).toBe(true);
  });
});

describe("gitProtocolOf", () => {
  it("maps each kind to the one protocol git may use", () => {
    expect(gitProtocolOf("scp")).toBe("ssh");
    expect(gitProtocolOf("path")).toBe("file");
    expect(gitProtocolOf("https")).toBe("https");
  });
});
