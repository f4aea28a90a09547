// Text from loops, journals and agents is written by someone else (an agent is arbitrary code).
// Sent raw to a terminal, ESC/CSI/OSC sequences clear or retitle the screen, CR and backspace
// overwrite what was printed ("\r ALL TESTS PASSED" over a failure), BEL rings, and bidi
// overrides (U+202E) reorder what the operator reads. These functions make every such
// character visible as an escape (`\x1b`, `\r`, `\u202e`) and keep the rest as it is.

/** The escapes with a short conventional name; every other control is `\xNN` or `\uNNNN`. */
const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Characters a terminal acts on instead of printing: C0 controls, DEL, C1 controls (a lone
 * U+009B is a CSI on many terminals), the bidi embeddings, overrides, isolates and marks, the line
 * and paragraph separators, and the byte order mark (zero-width, it hides between characters).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /\r\n|[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

function escape(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * Multi-line text for a terminal (a question, gate output, a handoff's details): newlines and
 * tabs stay where they are (a CRLF becomes a newline), every other control character is shown
 * as an escape. Idempotent: what it returns contains no control character but `\n` and `\t`.
 */
export function visibleText(text: string): string {
  return text.replace(CONTROL, (ch) => (ch === "\r\n" || ch === "\n" ? "\n" : ch === "\t" ? "\t" : escape(ch)));
}

/**
 * One line for a terminal (a table cell, a title, a journal line): as `visibleText`, and newlines
 * and tabs are shown as `\n` and `\t` too, so the text cannot start a line of its own or break
 * the alignment of the columns after it.
 */
export function visibleLine(text: string): string {
  return text.replace(CONTROL, (ch) => (ch === "\r\n" ? "\\n" : escape(ch)));
}
