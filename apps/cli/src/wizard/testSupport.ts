/**
 * Test stand-ins for a terminal, for tests that run runPrdNew / runPrdGenerate whole (the
 * screen's own tests use ink-testing-library). Real streams, so Ink reads keys the way it reads
 * a terminal: raw mode on, 'readable' events, utf8 chunks.
 */
import { PassThrough, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

/** Keys as a terminal sends them. */
export const KEYS = {
  enter: "\r",
  tab: "\t",
  shiftTab: "\u001B[Z",
  escape: "\u001B",
  backspace: "\u007F",
  pageDown: "\u001B[6~",
  pageUp: "\u001B[5~",
  left: "\u001B[D",
  right: "\u001B[C",
  ctrl: (letter: string): string => String.fromCharCode(letter.toLowerCase().charCodeAt(0) - 96),
} as const;

export class FakeTerminalInput extends PassThrough {
  readonly isTTY = true;
  rawMode = false;

  setRawMode(mode: boolean): this {
    this.rawMode = mode;
    return this;
  }

  /** Whether something (Ink's useInput) is reading keys. */
  get listening(): boolean {
    return this.listenerCount("readable") > 0;
  }
}

export class FakeTerminalOutput extends Writable {
  readonly isTTY = true;
  readonly columns = 120;
  readonly rows = 60;
  text = "";

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += String(chunk);
    callback();
  }
}

/** Polls until `check` is true; fails with `what` after `timeoutMs`. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
