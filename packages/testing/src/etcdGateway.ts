/**
 * Minimal reads and writes through etcd's JSON gRPC gateway (`/v3/...`, etcd >= 3.4), for
 * tests that must check what is in etcd without going through the code under test (or any
 * etcd client at all). Keys and values are UTF-8 strings; the gateway wants them base64.
 */

const toBase64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");
const fromBase64 = (base64: string): string => Buffer.from(base64, "base64").toString("utf8");

async function post(endpoint: string, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const response = await fetch(`${endpoint}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`etcd gateway ${path}: HTTP ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** Writes `key = value`. */
export async function gatewayPut(endpoint: string, key: string, value: string, timeoutMs = 5_000): Promise<void> {
  await post(endpoint, "/v3/kv/put", { key: toBase64(key), value: toBase64(value) }, timeoutMs);
}

/** Reads `key`; `undefined` when it does not exist. */
export async function gatewayGet(endpoint: string, key: string, timeoutMs = 5_000): Promise<string | undefined> {
  const result = await post(endpoint, "/v3/kv/range", { key: toBase64(key) }, timeoutMs);
  // The gateway omits empty fields: no `kvs` (and no `count`) when nothing matched.
  if (typeof result !== "object" || result === null || !("kvs" in result) || !Array.isArray(result.kvs))
    return undefined;
  const first: unknown = result.kvs[0];
  if (typeof first !== "object" || first === null) return undefined;
  // An empty value is omitted as well.
  return "value" in first && typeof first.value === "string" ? fromBase64(first.value) : "";
}
