import { stringify } from "yaml";

/** The machine-readable output formats every command that prints objects accepts. */
export type DataFormat = "json" | "yaml";

/** A value as the API returned it: pretty JSON, or YAML from the `yaml` package. No trailing newline. */
export function formatData(value: unknown, format: DataFormat): string {
  return format === "json" ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 }).trimEnd();
}

/**
 * One value of a stream (`--watch`, `logs -f`): a JSON value on one line (JSON Lines), or a YAML
 * document that starts with `---`, so that a consumer can split the stream.
 */
export function formatStreamItem(value: unknown, format: DataFormat): string {
  return format === "json" ? JSON.stringify(value) : `---\n${formatData(value, "yaml")}`;
}
