import { mkdir, readFile, readdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { AgentEvent, AgentRunOptions } from "@smith/core";
import { tmpDirTest as test } from "@smith/testing";
import { describe, expect } from "vitest";
import { ReplayAdapter } from "./replay.ts";

async function put(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

/** A workspace with two files and a recordings dir with one recording for US-001. */
async function setup(root: string) {
  const workspace = join(root, "ws");
  const recordings = join(root, "recordings");
  await put(join(workspace, "README.md"), "old readme\n");
  await put(join(workspace, "src/old.ts"), "export {};\n");
  await put(join(recordings, "US-001/files/README.md"), "new readme\n");
  await put(join(recordings, "US-001/files/src/deep/new.ts"), "export const x = 1;\n");
  await put(join(recordings, "US-001/delete.txt"), "# gone in this story\nsrc/old.ts\n\n");
  await put(join(recordings, "US-001/usage.json"), JSON.stringify({ inputTokens: 1200, outputTokens: 340, usd: 0.05 }));
  const events: AgentEvent[] = [];
  const run = (extra: Partial<AgentRunOptions> = {}): AgentRunOptions => ({
    prompt: "ignored",
    cwd: workspace,
    env: {},
    timeoutMs: 10_000,
    storyId: "US-001",
    onEvent: (e) => events.push(e),
    ...extra,
  });
  return { workspace, recordings, events, run };
}

describe("ReplayAdapter", () => {
  test("applies the recorded files, deletions and usage", async ({ tmpDir }) => {
    const { workspace, recordings, events, run } = await setup(tmpDir);
    const result = await new ReplayAdapter({ dir: recordings }).run(run());
    expect(result).toEqual({
      exitCode: 0,
      timedOut: false,
      cancelled: false,
      durationMs: expect.any(Number),
      inputTokens: 1200,
      outputTokens: 340,
      usd: 0.05,
      summary: "replayed 3 changes for US-001",
      isError: false,
      stderrTail: "",
    });
    expect(await readFile(join(workspace, "README.md"), "utf8")).toBe("new readme\n");
    expect(await readFile(join(workspace, "src/deep/new.ts"), "utf8")).toBe("export const x = 1;\n");
    expect(await readdir(join(workspace, "src"))).toEqual(["deep"]);
    expect(events).toEqual([
      { type: "text", text: "replaying 3 changes for US-001" },
      { type: "tool_use", tool: "delete", input: "src/old.ts" },
      { type: "tool_use", tool: "write", input: "README.md" },
      { type: "tool_use", tool: "write", input: "src/deep/new.ts" },
      { type: "usage", inputTokens: 1200, outputTokens: 340, usd: 0.05 },
    ]);
  });

  test("uses summary.txt as the final message", async ({ tmpDir }) => {
    const { recordings, run } = await setup(tmpDir);
    await put(join(recordings, "US-001/summary.txt"), "Added the greeting.\n");
    expect(await new ReplayAdapter({ dir: recordings }).run(run())).toMatchObject({ summary: "Added the greeting." });
  });

  test("a story without a recording fails with exit code 1", async ({ tmpDir }) => {
    const { recordings, events, run } = await setup(tmpDir);
    const result = await new ReplayAdapter({ dir: recordings }).run(run({ storyId: "US-404" }));
    expect(result).toMatchObject({ exitCode: 1, isError: true, summary: `no recording for US-404 in ${recordings}` });
    expect(events).toEqual([]);
  });

  test("refuses paths that leave the workspace, changing nothing", async ({ tmpDir }) => {
    const { workspace, recordings, run } = await setup(tmpDir);
    const adapter = new ReplayAdapter({ dir: recordings });
    for (const bad of ["../outside.txt", "src/../../outside.txt", "/etc/passwd", "."]) {
      await put(join(recordings, "US-001/delete.txt"), `src/old.ts\n${bad}\n`);
      const result = await adapter.run(run());
      expect(result, bad).toMatchObject({
        exitCode: 1,
        isError: true,
        summary: `refusing path outside the workspace: ${bad}`,
      });
    }
    expect(await readFile(join(workspace, "README.md"), "utf8")).toBe("old readme\n");
    expect(await readdir(join(workspace, "src"))).toEqual(["old.ts"]);
  });

  test("refuses to write through a symlink in the workspace, and symlinks in the recording", async ({ tmpDir }) => {
    const { workspace, recordings, run } = await setup(tmpDir);
    await mkdir(join(tmpDir, "elsewhere"));
    await symlink(join(tmpDir, "elsewhere"), join(workspace, "src/deep"));
    const adapter = new ReplayAdapter({ dir: recordings });
    expect(await adapter.run(run())).toMatchObject({
      exitCode: 1,
      isError: true,
      summary: "refusing to write through the symlink src/deep",
    });
    expect(await readdir(join(tmpDir, "elsewhere"))).toEqual([]);

    await put(join(recordings, "US-002/files/ok.txt"), "ok");
    await symlink("/etc/passwd", join(recordings, "US-002/files/link"));
    expect(await adapter.run(run({ storyId: "US-002" }))).toMatchObject({
      exitCode: 1,
      isError: true,
      summary: "refusing link in the recording: not a regular file",
    });
  });

  test("refuses story ids that are not plain directory names, and bad usage.json", async ({ tmpDir }) => {
    const { recordings, run } = await setup(tmpDir);
    const adapter = new ReplayAdapter({ dir: recordings });
    expect(await adapter.run(run({ storyId: "../US-001" }))).toMatchObject({ exitCode: 1, isError: true });
    await put(join(recordings, "US-001/usage.json"), `{"inputTokens": -1, "outputTokens": 2}`);
    expect(await adapter.run(run())).toMatchObject({
      exitCode: 1,
      isError: true,
      summary: expect.stringMatching(/usage\.json/),
    });
  });

  test("honours the timeout and the abort signal between changes", async ({ tmpDir }) => {
    const { workspace, recordings, run } = await setup(tmpDir);
    const adapter = new ReplayAdapter({ dir: recordings, stepDelayMs: 400 });
    const timedOut = await adapter.run(run({ timeoutMs: 200 }));
    expect(timedOut).toMatchObject({
      exitCode: null,
      timedOut: true,
      cancelled: false,
      isError: true,
      summary: "replay of US-001 timed out after 1 of 3 changes",
    });
    expect(await readFile(join(workspace, "README.md"), "utf8")).toBe("old readme\n");

    const controller = new AbortController();
    const cancelled = await adapter.run(
      run({ signal: controller.signal, onEvent: (e) => e.type === "tool_use" && controller.abort() }),
    );
    expect(cancelled).toMatchObject({ exitCode: null, timedOut: false, cancelled: true, isError: true });
    expect(cancelled.durationMs).toBeLessThan(400);
  });
});
