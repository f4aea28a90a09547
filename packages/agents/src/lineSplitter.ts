/**
 * Splits a byte stream into lines, holding at most `maxLineBytes` of any one line in memory: an
 * agent that prints a 200 MiB line (a minified bundle, a binary file `cat`ed by mistake) must not
 * take the replica's memory with it. A longer line is delivered cut, with a marker naming how
 * many bytes were dropped. Lines are split on `\n` (a trailing `\r` is removed) and decoded as
 * UTF-8 only once whole, so a multi-byte character split across chunks survives.
 */
export class LineSplitter {
  private readonly maxLineBytes: number;
  private readonly onLine: (line: string) => void;
  private parts: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(maxLineBytes: number, onLine: (line: string) => void) {
    this.maxLineBytes = maxLineBytes;
    this.onLine = onLine;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      this.append(chunk.subarray(start, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      this.flushLine();
      start = newline + 1;
    }
  }

  /** Delivers a last line that had no trailing newline. */
  end(): void {
    if (this.kept > 0 || this.dropped > 0) this.flushLine();
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    const room = this.maxLineBytes - this.kept;
    const take = Math.min(room, part.length);
    if (take > 0) {
      this.parts.push(part.subarray(0, take));
      this.kept += take;
    }
    this.dropped += part.length - take;
  }

  private flushLine(): void {
    let bytes = this.parts.length === 1 && this.parts[0] ? this.parts[0] : Buffer.concat(this.parts, this.kept);
    const dropped = this.dropped;
    this.parts = [];
    this.kept = 0;
    this.dropped = 0;
    if (dropped > 0) {
      const end = completeUtf8Length(bytes);
      this.onLine(
        bytes.subarray(0, end).toString("utf8") + ` [… line truncated: ${dropped + bytes.length - end} more bytes …]`,
      );
      return;
    }
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    this.onLine(bytes.toString("utf8"));
  }
}

/** The length of the longest prefix of `bytes` that does not end inside a UTF-8 character. */
function completeUtf8Length(bytes: Buffer): number {
  let lead = bytes.length - 1;
  // Continuation bytes are 10xxxxxx; a character has at most three of them.
  while (lead >= 0 && bytes.length - lead <= 3 && ((bytes[lead] ?? 0) & 0xc0) === 0x80) lead--;
  if (lead < 0) return bytes.length;
  const first = bytes[lead] ?? 0;
  const width = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1;
  return lead + width > bytes.length ? lead : bytes.length;
}
