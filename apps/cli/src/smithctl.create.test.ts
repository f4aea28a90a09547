// `smithctl create loop` flags as a child process against a real API on a real etcd: every
// common spec field from a flag, PRDs in markdown and both JSON shapes, and bad values refused
// before anything is created.
import { etcdTest as test } from "@smith/testing";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { TEST_PRD, startTestApi, type TestApi } from "@smith/api/testSupport";

const SMITHCTL = resolve(fileURLToPath(import.meta.url), "../smithctl.ts");

function run(
  api: TestApi,
  dir: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [SMITHCTL, ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        SMITH_CONFIG: join(dir, "config.json"),
        SMITH_API_URL: api.url,
        SMITH_TOKEN: api.tokens.operator,
      },
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

const RALPH_PRD = JSON.stringify({
  project: "demo",
  branchName: "ralph/demo",
  description: "a ralph PRD",
  userStories: [
    { id: "US-001", title: "One", description: "first", acceptanceCriteria: ["works"], priority: 1, passes: false },
  ],
});

describe("smithctl create loop", () => {
  test("every common spec field from a flag; --prd takes markdown and both JSON shapes; bad values create nothing", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    try {
      const { markdown } = await api.client(api.tokens.viewer).prd.exportMarkdown.mutate({ content: TEST_PRD });
      writeFileSync(join(tmpDir, "prd.md"), markdown);
      writeFileSync(join(tmpDir, "prd.json"), TEST_PRD);
      writeFileSync(join(tmpDir, "ralph.json"), RALPH_PRD);
      const base = ["create", "loop", "--repo", "https://example.com/acme/app.git", "--agent", "replay", "-o", "json"];

      const full = await run(api, tmpDir, [
        ...base,
        "--prd",
        "prd.md",
        "--model",
        "claude-sonnet-4-5",
        "--max-cost",
        "12.50",
        "--gate",
        "npm test",
        "--gate",
        "npm run lint",
        "--timeout",
        "90m",
        "--max-attempts",
        "4",
        "--max-iterations",
        "30",
        "--label",
        "team=payments",
        "--label",
        "ticket=PAY-12",
        "--priority",
        "700",
        "--concurrency-key",
        "payments",
      ]);
      expect(full, full.stderr).toMatchObject({ code: 0 });
      const id = (JSON.parse(full.stdout) as { id: string }).id;
      const { loop } = await api.store.loops.getOrThrow(id);
      expect(loop.spec.agent).toMatchObject({ provider: "replay", model: "claude-sonnet-4-5" });
      expect(loop.spec.qualityGates).toEqual(["npm test", "npm run lint"]);
      expect(loop.spec.limits).toMatchObject({
        maxCostUsd: 12.5,
        timeoutMs: 90 * 60_000,
        maxAttempts: 4,
        maxIterations: 30,
      });
      expect(loop.labels).toEqual({ team: "payments", ticket: "PAY-12" });
      expect(loop.priority).toBe(700);
      expect(loop.concurrencyKey).toBe("payments");
      // The markdown PRD arrived as the JSON the importer made of it: the same two stories.
      expect(loop.spec.prd.kind).toBe("inline");
      expect(loop.status.progress.total).toBe(2);

      for (const file of ["prd.json", "ralph.json"]) {
        const r = await run(api, tmpDir, [...base, "--prd", file]);
        expect(r, `${file}: ${r.stderr}`).toMatchObject({ code: 0 });
      }
      const before = (await api.store.loops.list()).items.length;
      expect(before).toBe(3);

      const cases: [string[], RegExp][] = [
        [["--max-attempts", "50"], /--max-attempts: .*20/],
        [["--max-iterations", "20000"], /--max-iterations: .*10000/],
        [["--priority", "1000"], /--priority: .*999/],
        [["--max-cost", "0"], /--max-cost: .*0/],
        [["--max-cost", "ten"], /--max-cost must be an amount of USD such as 5 or 12\.50; got "ten"/],
        [["--max-cost", "2000000"], /--max-cost: .*1000000/],
        [["--timeout", "8d"], /--timeout: must be between 1s and 7d/],
        [["--timeout", "soon"], /--timeout must be a duration such as 30d/],
        [["--gate", ""], /--gate \(gate 1\): .*1/],
        [["--label", "team"], /--label must be KEY=VALUE; got "team"/],
        [["--label", `${"k".repeat(64)}=v`], /--label.*63/],
        [["--model", "m".repeat(201)], /--model: .*200/],
        [["--concurrency-key", "k".repeat(257)], /--concurrency-key: .*256/],
      ];
      for (const [flags, message] of cases) {
        const r = await run(api, tmpDir, [...base, "--prd", "prd.json", ...flags]);
        expect(r, flags.join(" ")).toMatchObject({ code: 2, stdout: "" });
        expect(r.stderr, flags.join(" ")).toMatch(message);
      }
      // A markdown file the importer cannot read is the server's error, naming what is missing.
      writeFileSync(join(tmpDir, "empty.md"), "# PRD: nothing\n");
      const storyless = await run(api, tmpDir, [...base, "--prd", "empty.md"]);
      expect(storyless).toMatchObject({ code: 1, stderr: expect.stringMatching(/no stories/) });
      expect((await api.store.loops.list()).items.length).toBe(before);
    } finally {
      await api.close();
    }
  });
});
