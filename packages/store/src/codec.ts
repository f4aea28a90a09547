import { SCHEMA_VERSION, SmithError, issuePath } from "@smith/core";
import type { z } from "zod";

/** Values are JSON with a schemaVersion. */
export function encode(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * Decodes a stored value. A value written by a newer (or unknown) schema version is a typed
 * `unsupported_schema_version` error naming the key, not a crash deep inside a handler.
 */
export function decode<S extends z.ZodType>(schema: S, raw: string | Buffer, key: string): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8"));
  } catch (err) {
    throw new SmithError("internal", `the value at ${key} is not JSON`, { field: key }, { cause: err });
  }
  const version =
    typeof json === "object" && json !== null ? (json as { schemaVersion?: unknown }).schemaVersion : undefined;
  if (version !== SCHEMA_VERSION) {
    throw new SmithError(
      "unsupported_schema_version",
      `the value at ${key} has schemaVersion ${JSON.stringify(version)}; this build reads ${SCHEMA_VERSION}`,
      { field: key, version: version ?? null, supported: SCHEMA_VERSION },
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new SmithError("internal", `the value at ${key} does not match its schema`, {
      field: key,
      issues: parsed.error.issues.map((i) => ({ path: issuePath(i.path), message: i.message })),
    });
  }
  return parsed.data;
}
