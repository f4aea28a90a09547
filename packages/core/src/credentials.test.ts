import { describe, expect, it } from "vitest";
import { CreateCredentialInput, CredentialName, credentialUse, repoLocation } from "./credentials.ts";
import { CreateLoopInput } from "./loop.ts";
import { repoUrlProblem } from "./repoUrl.ts";

const TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
const PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n";

describe("repoLocation", () => {
  it.each([
    ["https://github.com/acme/app.git", { host: "github.com", owner: "acme", name: "app" }],
    ["https://github.com/acme/app", { host: "github.com", owner: "acme", name: "app" }],
    ["https://GitHub.com/acme/app/", { host: "github.com", owner: "acme", name: "app" }],
    ["git@github.com:acme/app.git", { host: "github.com", owner: "acme", name: "app" }],
    ["ssh://git@ghe.example:2222/org/svc.git", { host: "ghe.example:2222", owner: "org", name: "svc" }],
    ["http://127.0.0.1:9418/git/acme/app.git", { host: "127.0.0.1:9418", owner: "acme", name: "app" }],
  ])("%s", (url, expected) => {
    expect(repoLocation(url)).toEqual(expected);
  });

  it.each(["/srv/git/app.git", "./app", "file:///srv/git/acme/app.git", "app"])("%s is local", (url) => {
    expect(repoLocation(url)).toBeUndefined();
  });
});

describe("repoUrlProblem: credentials in the URL", () => {
  it.each([
    `https://x-access-token:${TOKEN}@github.com/acme/app.git`,
    `https://${TOKEN}@github.com/acme/app.git`,
    `http://user:pw@host/acme/app.git`,
    `ssh://git:pw@host/acme/app.git`,
  ])("refuses %s without repeating it", (url) => {
    const problem = repoUrlProblem(url, { allowLocal: true });
    expect(problem).toMatch(/must not embed credentials/);
    expect(problem).not.toContain(TOKEN);
    expect(problem).not.toContain("pw");
  });

  it.each(["https://github.com/acme/app.git", "git@github.com:acme/app.git", "ssh://git@host/a/b", "/srv/app.git"])(
    "accepts %s",
    (url) => {
      expect(repoUrlProblem(url, { allowLocal: true })).toBeUndefined();
    },
  );

  it("makes CreateLoopInput refuse the URL with an issue naming spec.repo.url, not echoing the token", () => {
    const result = CreateLoopInput.safeParse({
      spec: { repo: { url: `https://u:${TOKEN}@github.com/acme/app.git` }, prd: { kind: "path" } },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual(["spec.repo.url"]);
    expect(JSON.stringify(result.error?.issues)).not.toContain(TOKEN);
  });

  it("lets loops name their credentials", () => {
    const parsed = CreateLoopInput.parse({
      spec: {
        repo: { url: "https://github.com/acme/app.git", credential: "acme-bot" },
        prd: { kind: "path" },
        agent: { provider: "claude", credential: "anthropic-main" },
      },
    });
    expect(parsed.spec.repo.credential).toBe("acme-bot");
    expect(parsed.spec.agent.credential).toBe("anthropic-main");
    expect(
      CreateLoopInput.safeParse({
        spec: { repo: { url: "https://github.com/acme/app.git", credential: "Bad/Name" }, prd: { kind: "path" } },
      }).error?.issues[0]?.path,
    ).toEqual(["spec", "repo", "credential"]);
  });
});

describe("CreateCredentialInput", () => {
  it("accepts each type with its shape", () => {
    expect(CreateCredentialInput.parse({ name: "acme-bot", type: "github-token", value: TOKEN }).scope).toEqual({
      default: true,
    });
    expect(
      CreateCredentialInput.parse({ name: "app", type: "github-app", value: PEM, app: { appId: 12 } }).app,
    ).toEqual({ appId: 12 });
    expect(CreateCredentialInput.parse({ name: "claude", type: "anthropic", value: "sk-ant-x" }).type).toBe(
      "anthropic",
    );
  });

  it.each([
    [{ name: "UPPER", type: "github-token", value: TOKEN }, "name"],
    [{ name: "a", type: "gitlab", value: TOKEN }, "type"],
    [{ name: "a", type: "github-token", value: "" }, "value"],
    [{ name: "a", type: "github-token", value: "two words" }, "value"],
    [{ name: "a", type: "github-token", value: "x".repeat(16 * 1024 + 1) }, "value"],
    [{ name: "a", type: "github-app", value: PEM }, "app.appId"],
    [{ name: "a", type: "github-app", value: "not a key", app: { appId: 1 } }, "value"],
    [{ name: "a", type: "anthropic", value: "k", app: { appId: 1 } }, "app"],
    [{ name: "a", type: "openai", value: "k", scope: { host: "github.com" } }, "scope.host"],
  ])("refuses %j naming %s, never echoing the value", (input, path) => {
    const result = CreateCredentialInput.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join("."))).toContain(path);
    const value = (input as { value: string }).value;
    if (value.length > 3) expect(JSON.stringify(result.error?.issues)).not.toContain(value.slice(0, 40));
  });

  it("names are one key segment", () => {
    expect(CredentialName.safeParse("a/b").success).toBe(false);
    expect(CredentialName.safeParse("acme.bot_1").success).toBe(true);
  });

  it("maps types to uses", () => {
    expect(credentialUse("github-app")).toBe("git");
    expect(credentialUse("github-token")).toBe("git");
    expect(credentialUse("openai")).toBe("openai");
  });
});
