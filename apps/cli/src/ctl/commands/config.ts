import { writeContexts } from "../../config.ts";
import type { Command } from "../args.ts";
import { applySetContext, applyUseContext, loadContexts } from "../contexts.ts";
import { contextsTable, redactedContexts } from "../format/contexts.ts";
import { formatData } from "../format/output.ts";
import type { CtlIO } from "../io.ts";

type ConfigCommand = Extract<
  Command,
  { kind: "config-get-contexts" | "config-current-context" | "config-use-context" | "config-set-context" }
>;

/** `smithctl config ...`: reads and writes the contexts file; talks to no server. */
export function config(cmd: ConfigCommand, io: CtlIO): number {
  const file = loadContexts(io.configPath);
  switch (cmd.kind) {
    case "config-get-contexts":
      if (cmd.output !== "table") io.stdout(formatData(redactedContexts(file), cmd.output));
      else if (Object.keys(file.contexts).length === 0) io.stderr(`No contexts in ${io.configPath}.`);
      else io.stdout(contextsTable(file));
      return 0;
    case "config-current-context":
      if (file.currentContext === undefined) {
        io.stderr(`error: current-context is not set in ${io.configPath}`);
        return 1;
      }
      io.stdout(file.currentContext);
      return 0;
    case "config-use-context":
      writeContexts(io.configPath, applyUseContext(file, cmd.name, io.configPath));
      io.stdout(`Switched to context "${cmd.name}".`);
      return 0;
    case "config-set-context": {
      const { file: next, created } = applySetContext(
        file,
        cmd.name,
        {
          ...(cmd.url !== undefined ? { url: cmd.url } : {}),
          ...(cmd.token !== undefined ? { token: cmd.token } : {}),
          ...(cmd.tokenFile !== undefined ? { tokenFile: cmd.tokenFile } : {}),
        },
        io.cwd,
      );
      writeContexts(io.configPath, next);
      io.stdout(
        `Context "${cmd.name}" ${created ? "created" : "modified"}.${next.currentContext === cmd.name && file.currentContext !== cmd.name ? " It is the current context." : ""}`,
      );
      return 0;
    }
  }
}
