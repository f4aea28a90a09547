// `smithctl create loop --from-github` and `smithctl ingest github` as child processes against a
// real API (on a real etcd) that reads issues from the test GitHub.
import { startTestApi } from "@smith/api/testSupport";
import { GitHubServer, etcdTest } from "@smith/testing";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";

const SMITHCTL = resolve(fileURLToPath(import.meta.url), "../smithctl.ts");

function smithctl(url: string, token: string, dir: string, args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(process.execPath, [SMITHCTL, ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        SMITH_CONFIG: join(dir, "config.json"),
        SMITH_API_URL: url,
        SMITH_TOKEN: token,
      },
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

const test = etcdTest
  .extend("github", async ({ task: _task }, { onCleanup }) => {
    const github = await GitHubServer.start();
    onCleanup(() => github.close());
    await github.createRepository("acme", "app");
    return github;
  })
  .extend("api", async ({ etcdEndpoint, prefix, github }, { onCleanup }) => {
    const token = github.createToken("smith-bot", { permission: "WRITE" });
    const api = await startTestApi(etcdEndpoint, prefix, {
      github: { apiUrl: github.apiUrl, token: async () => token, loopTemplate: { agent: { provider: "replay" } } },
    });
    onCleanup(() => api.close());
    return api;
  });

describe("smithctl and GitHub issues", () => {
  test("create loop --from-github and ingest github make each issue's loop once", async ({ api, github, tmpDir }) => {
    const op = (args: string[]) => smithctl(api.url, api.tokens.operator, tmpDir, args);
    const one = github.createIssue("acme", "app", { title: "Export \u001b[2Jwidgets" });
    const two = github.createIssue("acme", "app", { title: "Two", labels: ["smith"] });
    github.createIssue("acme", "app", { title: "Three", labels: ["smith"] });

    const created = await op(["create", "loop", "--from-github", `acme/app#${one.number}`]);
    expect(created).toMatchObject({ code: 0, stderr: "" });
    expect(created.stdout).toMatch(new RegExp(`^loop/\\w+ created from acme/app#${one.number}\\n$`));
    const again = await op(["create", "loop", "--from-github", `acme/app#${one.number}`, "-o", "json"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ kind: "loop-exists", ref: `acme/app#${one.number}` });

    const ingested = await op(["ingest", "github", "acme/app"]);
    expect(ingested.code).toBe(0);
    const lines = ingested.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ISSUE\s+OUTCOME\s+LOOP$/);
    expect(lines.slice(1, 3).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      [`acme/app#${two.number}`, "created"],
      [`acme/app#${two.number + 1}`, "created"],
    ]);
    expect(lines[3]).toBe("2 open issues labeled smith in acme/app: 2 loops created");
    const loops = (await api.client(api.tokens.admin).loops.list.query({})).items;
    expect(loops).toHaveLength(3);
    // The issue's title is printed nowhere raw (the loop's title is the issue's).
    const got = await op(["get", "loops"]);
    expect(got.stdout).not.toContain("\u001b");

    // Usage errors name the flag and create nothing.
    const bad = await op(["create", "loop", "--from-github", "acme/app"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--from-github must be an issue OWNER/REPO#N");
    const mixed = await op(["create", "loop", "--from-github", "acme/app#1", "--repo", "https://x/y.git"]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("--repo cannot be used with --from-github");
    const noRepo = await op(["ingest", "github"]);
    expect(noRepo.code).toBe(2);
    // A viewer may not.
    const viewer = await smithctl(api.url, api.tokens.viewer, tmpDir, ["ingest", "github", "acme/app"]);
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toContain("FORBIDDEN");
    expect((await api.client(api.tokens.admin).loops.list.query({})).items).toHaveLength(3);
  });
});
