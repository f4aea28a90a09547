import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TempDir {
  readonly path: string;
  /** Removes the directory and everything in it; safe to call twice. */
  remove(): Promise<void>;
}

/**
 * A fresh directory under the OS temp dir. Prefer the `tmpDir` fixture, which removes it after
 * the test; call `remove()` yourself when you use this directly.
 */
export async function tempDir(prefix = "smith-test-"): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    remove: () => rm(path, { recursive: true, force: true }),
  };
}
