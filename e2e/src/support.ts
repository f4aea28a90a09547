import { createDemoRepository, type DemoRepository } from "@smith/demo";
import type { CreateLoopRequest } from "@smith/core";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";

export function demo(
  dir: string,
  options: Omit<Parameters<typeof createDemoRepository>[1], "env"> = {},
): DemoRepository {
  return createDemoRepository(mkdtempSync(join(dir, "demo-")), { ...options, env: process.env });
}

export function replayLoop(d: DemoRepository, extra: Partial<CreateLoopRequest> = {}): CreateLoopRequest {
  return {
    spec: {
      title: "calc",
      repo: { url: d.remoteUrl, baseBranch: "main" },
      prd: { kind: "path", path: d.prdPath },
      agent: { provider: "replay", replayDir: d.replayDir },
    },
    ...extra,
  };
}

/** Commit subjects on a remote branch after `base`, oldest first. */
export function branchSubjects(remote: string, branch: string, base = "main"): string[] {
  const out = execFileSync("git", ["--git-dir", remote, "log", "--reverse", "--format=%s", `${base}..${branch}`], {
    encoding: "utf8",
  });
  return out.split("\n").filter(Boolean);
}

export function fileOnBranch(remote: string, branch: string, path: string): string {
  return execFileSync("git", ["--git-dir", remote, "show", `${branch}:${path}`], { encoding: "utf8" });
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
