/**
 * Keeps the last `limit` characters of a child process's output, so that a server which
 * fails to start can be reported with its own last words without buffering a long-running
 * server's whole log in memory.
 */
export class OutputTail {
  readonly #limit: number;
  #text = "";

  constructor(limit = 32 * 1024) {
    this.#limit = limit;
  }

  append(chunk: string): void {
    this.#text += chunk;
    if (this.#text.length > this.#limit) this.#text = this.#text.slice(-this.#limit);
  }

  /** The last `count` non-empty lines held (the first may be cut short by the limit). */
  lines(count = 40): string {
    return this.#text
      .split("\n")
      .filter((line) => line !== "")
      .slice(-count)
      .join("\n");
  }

  text(): string {
    return this.#text;
  }
}
