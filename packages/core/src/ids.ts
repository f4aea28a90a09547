/**
 * Sortable ids: a lower-case ULID (48-bit ms timestamp + 80 random bits, Crockford base32).
 * Lower case keeps them DNS-safe, so they fit Kubernetes names (`smith-<id>-<attempt>`).
 */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
export const ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{26}$/;

let lastTime = -1;
let lastRandom: number[] = [];

export function newId(now: number = Date.now()): string {
  let time = now;
  let random: number[];
  if (time <= lastTime) {
    // Monotonic within one process: same millisecond → increment the random part.
    time = lastTime;
    random = increment(lastRandom);
  } else {
    const bytes = new Uint8Array(16);
    globalThis.crypto.getRandomValues(bytes);
    random = Array.from(bytes, (b) => b % 32);
  }
  lastTime = time;
  lastRandom = random;
  let timePart = "";
  let t = time;
  for (let i = 0; i < 10; i++) {
    timePart = (ALPHABET[t % 32] ?? "0") + timePart;
    t = Math.floor(t / 32);
  }
  return timePart + random.map((d) => ALPHABET[d] ?? "0").join("");
}

function increment(digits: number[]): number[] {
  const out = digits.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    const d = out[i] ?? 0;
    if (d < 31) {
      out[i] = d + 1;
      return out;
    }
    out[i] = 0;
  }
  return out;
}

export function isId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** The creation time (ms since the epoch) encoded in an id's first 10 characters. */
export function idTime(id: string): number {
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + Math.max(0, ALPHABET.indexOf(ch));
  return t;
}
