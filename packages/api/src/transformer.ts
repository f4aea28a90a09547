import type { CombinedDataTransformer } from "@trpc/server";
import superjson from "superjson";

/**
 * The API's data transformer: superjson both ways, except for answers the journal subscriptions
 * mark as plain JSON with `plainJson`. superjson walks every value looking for Dates, Maps and the
 * like (about 40 µs for a 350 B journal entry), and tRPC serializes each subscriber's event on its
 * own, so ten dashboards on one busy loop cost ten walks of every entry, one after the other on the
 * event loop: that was most of the fan-out's p99 (docs/benchmarks.md, run 6). A marked answer goes
 * out as superjson's own form for a value without special types (`{ json: value }`, no `meta`),
 * which any superjson client reads unchanged. Each entry is checked once per process (the
 * subscribers of one loop share the decoded entries), so a batch costs each subscriber only its
 * JSON.stringify; the API's SSE writer (sse.ts) goes further and joins each event from the
 * entries' shared texts (`plainJsonText`).
 */
const plain = new WeakSet<object>();
/** Objects already checked: plain JSON (true) or not (false). */
const checked = new WeakMap<object, boolean>();

function isPlainJson(value: unknown, depth = 0): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object":
      break;
    default:
      return false;
  }
  if (depth > 32) return false;
  const known = checked.get(value);
  if (known !== undefined) return known;
  let ok: boolean;
  if (Array.isArray(value)) ok = value.every((v) => isPlainJson(v, depth + 1));
  else {
    const proto: unknown = Object.getPrototypeOf(value);
    ok =
      (proto === Object.prototype || proto === null) &&
      Object.keys(value).every((k) => k !== "__proto__") &&
      Object.values(value).every((v) => isPlainJson(v, depth + 1));
  }
  checked.set(value, ok);
  return ok;
}

/**
 * Marks `value` to go out without superjson's walk if it is plain JSON throughout: plain objects
 * and arrays, strings, finite numbers, booleans and null, nothing undefined. Anything else still
 * goes through superjson. Returns `value`, which must not change afterwards (journal entries
 * decoded from etcd are read-only).
 */
export function plainJson<T extends object>(value: T): T {
  if (isPlainJson(value)) plain.add(value);
  return value;
}

/** JSON texts of objects sent to many subscribers: each journal entry is stringified once per process. */
const texts = new WeakMap<object, string>();

/**
 * The text tRPC would send for a value marked by `plainJson` (`JSON.stringify({ json: value })`),
 * or undefined for any other value. The value's own text and its array elements' texts are kept
 * per object, so the subscribers of one loop, which share the decoded entries, serialize each
 * entry once, and a batch costs each of them only the joining of its entries' texts.
 */
export function plainJsonText(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || !plain.has(value)) return undefined;
  return `{"json":${cachedText(value)}}`;
}

function cachedText(value: object): string {
  let text = texts.get(value);
  if (text === undefined) {
    text = textOf(value);
    texts.set(value, text);
  }
  return text;
}

/** `JSON.stringify` of a plain JSON value, with the texts of objects in arrays taken from the cache. */
function textOf(value: unknown): string {
  if (typeof value !== "object" || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) {
    return `[${value.map((v) => (typeof v === "object" && v !== null ? cachedText(v) : JSON.stringify(v))).join(",")}]`;
  }
  const fields = Object.entries(value);
  if (!fields.some(([, v]) => Array.isArray(v))) return JSON.stringify(value);
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${textOf(v)}`).join(",")}}`;
}

export const transformer: CombinedDataTransformer = {
  input: superjson,
  output: {
    serialize: (value: unknown) =>
      typeof value === "object" && value !== null && plain.has(value) ? { json: value } : superjson.serialize(value),
    deserialize: (value: unknown) => superjson.deserialize(value as Parameters<typeof superjson.deserialize>[0]),
  },
};
