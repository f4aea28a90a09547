import { SMITH_VERSION } from "@smith/core";

const USAGE: Record<string, string> = {
  get: `  smithctl get loops [-o table|wide|json|yaml] [--state S[,S...]] [--limit N] [-w|--watch]
      List loops, newest first. --watch prints the current loops, then a row per change.
  smithctl get loop <id> [-o table|wide|json|yaml]
  smithctl get audit [--loop ID] [-w|--watch] [-o json|yaml]
      Audit events, oldest first. --watch prints the newest 20, then each new event.`,
  describe: `  smithctl describe loop <id>
      Spec, status, story progress, steering, latest handoff and the last journal lines.`,
  create: `  smithctl create loop --repo URL (--prd FILE | --prd-path PATH) [--base BRANCH] [--title T]
        [--agent replay|claude|codex|command] [--agent-command CMD] [--replay-dir DIR]
        [--model M] [--max-cost USD] [--gate CMD]... [--timeout DURATION] [--max-attempts N]
        [--max-iterations N] [--label K=V]... [--priority N] [--concurrency-key K]
        [--idempotency-key K] [-o json|yaml]
      --prd reads a local PRD (JSON in either shape, or markdown) and sends it inline; --prd-path
      names a PRD inside the repository. A bad value is refused before anything is created.
  smithctl create loop --from-github OWNER/REPO#N [-o json|yaml]
      The loop of a GitHub issue, as the webhook makes it (its PRD is drafted from the issue).
      Asking again, or after the webhook did, makes no second loop.
  smithctl create -f FILE [-o json|yaml]
      Create the loops listed in a YAML or JSON file (loops.createBatch). Exit 1 if any fails.`,
  ingest: `  smithctl ingest github OWNER/REPO [--label L] [-o json|yaml]
      A loop for every open issue of the repository carrying the label (default: the API's,
      usually smith). Issues that already have their loop are listed as existing.`,
  logs: `  smithctl logs <id> [-f|--follow] [--since-seq N] [--tail N] [-o json|yaml]
      Journal entries: seq, time, phase, level, message. -f follows until the loop finishes.
  smithctl logs --replica <id> [--limit-bytes N] [-o json|yaml]
      The end of the loop's replica's own log (stdout and stderr), where the API can read it.`,
  cancel: `  smithctl cancel <id> --reason TEXT [-o json|yaml]`,
  retry: `  smithctl retry <id> --reason TEXT [-o json|yaml]     (only from flatline)`,
  steer: `  smithctl steer <id> -m|--message TEXT [-o json|yaml]
      Queue a message for the loop's next iteration.`,
  answer: `  smithctl answer <id> "TEXT" [-o json|yaml]
      Answer a waiting loop (its question is in describe): it goes back to the queue, and its
      next attempt resumes the work branch with the answer in its prompt.`,
  audit: `  smithctl audit [<id>] [-o json|yaml]      Audit events, oldest first`,
  cost: `  smithctl cost [<id>] [--state S[,S...]] [-o json|yaml]
      One loop's cost, or the total over all loops (of the given states).`,
  config: `  smithctl config get-contexts [-o json|yaml]
  smithctl config current-context
  smithctl config use-context NAME
  smithctl config set-context NAME [--url URL] [--token T | --token-file FILE]`,
  version: `  smithctl version [--client] [-o json|yaml]`,
  completion: `  smithctl completion bash|zsh|fish
      Print the shell completion script (commands, flags, loop ids from the API):
        source <(smithctl completion bash)      # ~/.bashrc
        source <(smithctl completion zsh)       # ~/.zshrc, after compinit
        smithctl completion fish | source       # ~/.config/fish/config.fish`,
  override: `  smithctl override <id> --to STATE --reason TEXT [-o json|yaml]
      Force a state where the lifecycle allows it (admin); recorded as an override and audited.`,
  tokens: `  smithctl tokens create NAME --role viewer|operator|admin [--expires-in-days N] [-o json|yaml]
      Create an API token (admin). The token is printed once, alone on stdout; keep it.
  smithctl tokens list [-o json|yaml]
  smithctl tokens revoke ID`,
  delete: `  smithctl delete loop <id>... [--reason TEXT] [-o json|yaml]
      Delete finished loops with their journal, handoffs and overrides (admin; audited).
      Active loops are skipped and said so; exit 1 if any id was not deleted.`,
  cleanup: `  smithctl cleanup --state S[,S...] --older-than DURATION [--dry-run] [--limit N] [-o json|yaml]
      Delete loops of those states that finished more than DURATION (30d, 12h, 90m) ago, at most
      N (default 500), by the retention rules (admin; each deletion audited). Active loops are
      skipped and said so. --dry-run lists what would be deleted and changes nothing.`,
  exec: `  smithctl exec <id> [--timeout DURATION] -- CMD [ARGS...]
      Run a command in the loop's running replica's workspace (operator; audited; at most 8 KiB of
      command, 10 calls a minute, 60s). Its output and exit code are ours.`,
  trace: `  smithctl trace <id> [-o json|yaml]
      Everything about one loop from one API call: the loop, its journal, handoffs, overrides, audit.`,
  credentials: `  smithctl credentials set NAME --type github-token|github-app|anthropic|openai
        [--scope OWNER] [--host HOST] [--no-default] [--app-id N] [--installation-id N]
        [--description TEXT] [--from-file FILE | --from-env VAR] [-o json|yaml]
      Store a credential (admin). The value comes from stdin, a file or an environment variable,
      never from the command line. A github-app's value is the App's PEM private key.
  smithctl credentials rotate NAME [--from-file FILE | --from-env VAR]
  smithctl credentials revoke NAME
  smithctl credentials list [-o json|yaml]        metadata only: values are write-only
  smithctl credentials reseal                     after rotating SMITH_CREDENTIALS_KEY`,
};

const GLOBAL = `Connection (every command but config):
  --server URL      API URL                     (else SMITH_API_URL, else the context's)
  --token T         bearer token                (else SMITH_TOKEN, else the context's)
  --context NAME    context from the contexts file (else SMITH_CONTEXT, else the current one)
  Precedence: --server/--token > the --context context > SMITH_API_URL/SMITH_TOKEN >
  the SMITH_CONTEXT (or current) context. Contexts file: SMITH_CONFIG, else
  $XDG_CONFIG_HOME/smith/config.json (~/.config/smith/config.json).

Exit codes: 0 ok, 1 the server refused or failed (or could not be reached), 2 usage error.`;

/** `smithctl --help`, or one verb's usage for `smithctl <verb> --help`. */
export function helpText(topic?: string): string {
  const one = topic !== undefined ? USAGE[topic] : undefined;
  if (one) return `Usage:\n${one}\n\n${GLOBAL}`;
  return `smithctl ${SMITH_VERSION}: operate Smith's loops through its API (kubectl conventions)

Usage:
${Object.values(USAGE).join("\n")}
  smithctl help [COMMAND]

${GLOBAL}

See docs/cli.md for details.`;
}
