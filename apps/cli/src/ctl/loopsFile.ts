import { parse } from "yaml";
import { UsageError } from "./errors.ts";

/**
 * The items of `create -f FILE`: a YAML or JSON document (JSON is YAML) holding a list of
 * `loops.create` inputs, either at the top level or under `items`. Only the shape of the list is
 * checked here; the server validates every item.
 */
export function parseLoopsFile(text: string, fileName: string): unknown[] {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: true });
  } catch (err) {
    throw new UsageError(`${fileName} is not valid YAML or JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const items = Array.isArray(doc)
    ? doc
    : typeof doc === "object" && doc !== null && "items" in doc && Array.isArray(doc.items)
      ? (doc.items as unknown[])
      : undefined;
  if (!items) throw new UsageError(`${fileName} must hold a list of loops (at the top level or under "items")`);
  if (items.length === 0) throw new UsageError(`${fileName} holds no loops`);
  items.forEach((item, i) => {
    if (typeof item !== "object" || item === null || Array.isArray(item))
      throw new UsageError(`${fileName}: item ${i} is not an object`);
  });
  return items;
}
