import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from "node:fs";
import { isAbsolute, join, relative } from "node:path";

/**
 * Reading and writing Smith's own files in the workspace (the PRD, the progress notes, gate
 * detection's manifests) without following anything the agent planted. The agent is untrusted and
 * writes the same tree: a `progress.md` that is a symbolic link to the replica's token file would
 * put the token into the next prompt, and one to `.git/config` would have the replica append text
 * the agent chose to git's configuration. So no component of the path may be a symbolic link, the
 * last is opened with O_NOFOLLOW and must be a regular file, and a file with a second hard link
 * (a link to a file of the replica's, where the kernel allows making one) is refused.
 */
export class UnsafeWorkspacePath extends Error {
  readonly path: string;
  constructor(path: string, why: string) {
    super(`${path}: ${why}`);
    this.name = "UnsafeWorkspacePath";
    this.path = path;
  }
}

/** Checks every directory between `workDir` and `rel`'s file; creates the missing ones when asked. */
function checkParents(workDir: string, rel: string, create: boolean): string {
  if (isAbsolute(rel) || rel.split(/[\\/]/).includes(".."))
    throw new UnsafeWorkspacePath(rel, "not a path inside the workspace");
  const parts = rel.split(/[\\/]/).filter((p) => p !== "" && p !== ".");
  let dir = workDir;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    let st;
    try {
      st = lstatSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !create) throw err;
      mkdirSync(dir);
      continue;
    }
    if (!st.isDirectory()) throw new UnsafeWorkspacePath(relative(workDir, dir), "not a directory (a symbolic link?)");
  }
  const last = parts.at(-1);
  if (!last) throw new UnsafeWorkspacePath(rel, "no file name");
  return join(dir, last);
}

function checkOpened(fd: number, rel: string): void {
  const st = fstatSync(fd);
  if (!st.isFile()) throw new UnsafeWorkspacePath(rel, "not a regular file");
  if (st.nlink > 1) throw new UnsafeWorkspacePath(rel, "has another hard link");
}

/** The file's text, or undefined when it does not exist; UnsafeWorkspacePath when it is not a plain file of the tree. */
export function readWorkspaceFile(workDir: string, rel: string, maxBytes = 16 * 1024 * 1024): string | undefined {
  let fd: number;
  try {
    fd = openSync(checkParents(workDir, rel, false), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw new UnsafeWorkspacePath(rel, "a symbolic link");
    throw err;
  }
  try {
    checkOpened(fd, rel);
    if (fstatSync(fd).size > maxBytes) throw new UnsafeWorkspacePath(rel, `larger than ${maxBytes} bytes`);
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/** Writes (or appends to) the file, creating it and its directories; never through a link. */
export function writeWorkspaceFile(
  workDir: string,
  rel: string,
  text: string | Uint8Array,
  options: { append?: boolean } = {},
): void {
  const path = checkParents(workDir, rel, true);
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_WRONLY |
        constants.O_CREAT |
        constants.O_NOFOLLOW |
        constants.O_NONBLOCK |
        (options.append ? constants.O_APPEND : 0),
      0o644,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new UnsafeWorkspacePath(rel, "a symbolic link");
    throw err;
  }
  try {
    checkOpened(fd, rel);
    // Truncate only once the file is known to be ours to write (O_TRUNC would act before the check).
    if (!options.append) {
      ftruncateSync(fd, 0);
    }
    const data = typeof text === "string" ? Buffer.from(text) : text;
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off, options.append ? null : off);
  } finally {
    closeSync(fd);
  }
}
