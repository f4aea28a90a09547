import {
  SmithError,
  parsePrd,
  prdFromMarkdown,
  prdToMarkdown,
  serializePrd,
  validatePrd,
  type PrdValidationReport,
} from "@smith/core";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** `smith prd validate|import|export`: thin wrappers over @smith/core's PRD model. */
export function prdCommand(
  args: string[],
  options: { output?: string; out?: string },
  print: (s: string) => void,
): number {
  const [sub, path] = args;
  switch (sub) {
    case "validate": {
      const file = path ?? ".agents/tasks/prd.json";
      if (!existsSync(file)) throw new SmithError("not_found", `no PRD at ${file}`, { field: "path" });
      const report = validatePrd(readFileSync(file, "utf8"));
      print(options.output === "json" ? JSON.stringify(report, null, 2) : formatReport(file, report));
      return report.valid ? 0 : 1;
    }
    case "import": {
      if (!path || !options.out)
        throw new SmithError("invalid_argument", "usage: smith prd import <markdown> --out <prd.json>", {
          field: "out",
        });
      const prd = prdFromMarkdown(readFileSync(path, "utf8"));
      writeFileSync(options.out, serializePrd(prd));
      const report = validatePrd(prd);
      print(`wrote ${options.out} (${prd.stories.length} stories, readiness ${report.readiness})`);
      return 0;
    }
    case "export": {
      if (!path || !options.out)
        throw new SmithError("invalid_argument", "usage: smith prd export <prd.json> --out <markdown>", {
          field: "out",
        });
      writeFileSync(options.out, prdToMarkdown(parsePrd(readFileSync(path, "utf8"))));
      print(`wrote ${options.out}`);
      return 0;
    }
    default:
      throw new SmithError(
        "invalid_argument",
        `unknown prd command ${JSON.stringify(sub ?? "")}: use new, generate, validate, import or export`,
        { field: "command" },
      );
  }
}

function formatReport(file: string, report: PrdValidationReport): string {
  const lines = [
    `${file}: ${report.readiness.toUpperCase()} (${report.errors.length} errors, ${report.warnings.length} warnings)`,
  ];
  for (const d of report.errors)
    lines.push(`  error   ${d.code} at ${d.path}: ${d.message}${d.suggestion ? `\n          → ${d.suggestion}` : ""}`);
  for (const d of report.warnings)
    lines.push(`  warning ${d.code} at ${d.path}: ${d.message}${d.suggestion ? `\n          → ${d.suggestion}` : ""}`);
  return lines.join("\n");
}
