import { describe, expect, it } from "vitest";
import { parseCommandLine } from "./args.ts";
import { UsageError } from "./errors.ts";

const ID = "01jz0000000000000000000000";
const parse = (line: string) => parseCommandLine(line.split(" ").filter(Boolean));
const usage = (line: string) => {
  try {
    parse(line);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected a usage error for: ${line}`);
};

describe("parseCommandLine", () => {
  it("get loops: output, states, watch, limit; global flags before or after the verb", () => {
    expect(parse("get loops")).toEqual({
      command: { kind: "get-loops", output: "table", watch: false },
      connection: {},
    });
    expect(parse("--server http://s:1 get loops -o wide --state running,flatline -w --token t --context c")).toEqual({
      command: { kind: "get-loops", output: "wide", watch: true, states: ["running", "flatline"] },
      connection: { server: "http://s:1", token: "t", context: "c" },
    });
    expect(parse("get -o json loop --limit 5").command).toEqual({
      kind: "get-loops",
      output: "json",
      watch: false,
      limit: 5,
    });
    expect(parse("get loops -oyaml").command).toMatchObject({ output: "yaml" });
    expect(parseCommandLine(["get", "loops", "--output=json"]).command).toMatchObject({ output: "json" });
  });

  it("get loop <id> and describe loop <id>", () => {
    expect(parse(`get loop ${ID} -o json`).command).toEqual({ kind: "get-loop", id: ID, output: "json" });
    expect(parse(`describe loop ${ID}`).command).toEqual({ kind: "describe-loop", id: ID });
    expect(usage(`get loop ${ID} --watch`)).toMatch(/--watch lists loops/);
    expect(usage("describe loop")).toMatch(/needs a loop id/);
    expect(usage(`describe loop ${ID} -o json`)).toMatch(/Unknown option '-o'/);
  });

  it("create loop: flags become CreateLoopFlags; numbers are checked", () => {
    expect(
      parse(
        "create loop --repo https://x/a.git --prd prd.json --agent replay --replay-dir r --max-iterations 7 --priority 0 --concurrency-key k --idempotency-key i --base dev --title T -o json",
      ).command,
    ).toEqual({
      kind: "create-loop",
      output: "json",
      flags: {
        repo: "https://x/a.git",
        prdFile: "prd.json",
        agent: "replay",
        replayDir: "r",
        maxIterations: 7,
        priority: 0,
        concurrencyKey: "k",
        idempotencyKey: "i",
        base: "dev",
        title: "T",
      },
    });
    expect(parse("create loop --repo r --prd-path docs/prd.json").command).toEqual({
      kind: "create-loop",
      output: "table",
      flags: { repo: "r", prdPath: "docs/prd.json" },
    });
    expect(
      parse(
        "create loop --repo r --prd a --model m --max-cost 2.5 --gate t1 --gate t2 --timeout 2h --max-attempts 5 --label a=1 --label b=x=y",
      ).command,
    ).toMatchObject({
      flags: {
        model: "m",
        maxCostUsd: 2.5,
        gates: ["t1", "t2"],
        timeoutMs: 7_200_000,
        maxAttempts: 5,
        labels: { a: "1", b: "x=y" },
      },
    });
    expect(usage("create loop --repo r --prd a --label =x")).toMatch(/--label must be KEY=VALUE/);
    expect(usage("create loop --repo r --prd a --max-attempts 0")).toMatch(/--max-attempts must be a whole number ≥ 1/);
    expect(usage("create -f loops.yaml --gate x")).toMatch(/--gate cannot be used with -f/);
    expect(usage("create loop --prd p.json")).toMatch(/--repo URL/);
    expect(usage("create loop --repo r")).toMatch(/--prd FILE.*--prd-path PATH/);
    expect(usage("create loop --repo r --prd a --prd-path b")).toMatch(/cannot be used together/);
    expect(usage("create loop --repo r --prd a --agent gpt")).toMatch(
      /--agent must be one of replay, claude, codex, command; got "gpt"/,
    );
    expect(usage("create loop --repo r --prd a --max-iterations ten")).toMatch(
      /--max-iterations must be a whole number ≥ 1; got "ten"/,
    );
    expect(usage("create loop --repo r --prd a --priority -3")).toMatch(/--priority/);
    expect(usage("create loop --repo r --prd a -o wide")).toMatch(/-o must be one of table, json, yaml; got "wide"/);
  });

  it("create -f: a file of loops; loop flags do not mix with it", () => {
    expect(parse("create -f loops.yaml").command).toEqual({
      kind: "create-batch",
      file: "loops.yaml",
      output: "table",
    });
    expect(parse("create loops --filename loops.json -o json").command).toEqual({
      kind: "create-batch",
      file: "loops.json",
      output: "json",
    });
    expect(usage("create -f loops.yaml --repo r")).toMatch(/--repo cannot be used with -f/);
    expect(usage("create")).toMatch(/create needs a resource or a file/);
  });

  it("logs, cancel, retry, steer", () => {
    expect(parse(`logs ${ID} -f --since-seq 3 --tail 10`).command).toEqual({
      kind: "logs",
      id: ID,
      follow: true,
      sinceSeq: 3,
      tail: 10,
      output: "table",
    });
    expect(parse(`logs ${ID}`).command).toEqual({ kind: "logs", id: ID, follow: false, output: "table" });
    expect(parseCommandLine(["cancel", ID, "--reason", "superseded by #12"]).command).toEqual({
      kind: "cancel",
      id: ID,
      reason: "superseded by #12",
      output: "table",
    });
    // An empty reason goes to the server, which explains what it wants.
    expect(parseCommandLine(["retry", ID, "--reason", ""]).command).toEqual({
      kind: "retry",
      id: ID,
      reason: "",
      output: "table",
    });
    expect(parseCommandLine(["steer", ID, "-m", "use vitest"]).command).toEqual({
      kind: "steer",
      id: ID,
      message: "use vitest",
      output: "table",
    });
    expect(usage(`cancel ${ID}`)).toMatch(/cancel needs --reason TEXT/);
    expect(usage(`cancel ${ID} --reason`)).toMatch(/--reason <value>' argument missing/);
    expect(usage("retry --reason x")).toMatch(/retry needs a loop id/);
    expect(usage(`steer ${ID}`)).toMatch(/--message/);
    expect(parseCommandLine(["answer", ID, "use the v2 API"]).command).toEqual({
      kind: "answer",
      id: ID,
      answer: "use the v2 API",
      output: "table",
    });
    expect(usage(`answer ${ID}`)).toMatch(/answer needs the answer/);
    expect(usage(`answer ${ID} a b`)).toMatch(/b/);
    expect(usage(`logs ${ID} --tail x`)).toMatch(/--tail must be a whole number/);
  });

  it("audit, cost, version", () => {
    expect(parse("audit").command).toEqual({ kind: "audit", output: "table" });
    expect(parse(`audit ${ID} -o yaml`).command).toEqual({ kind: "audit", id: ID, output: "yaml" });
    expect(parse("cost --state synced").command).toEqual({ kind: "cost", output: "table", states: ["synced"] });
    expect(parse(`cost ${ID} -o json`).command).toEqual({ kind: "cost", id: ID, output: "json" });
    expect(usage(`cost ${ID} --state synced`)).toMatch(/--state sums over loops/);
    expect(usage("get loops --state done")).toMatch(
      /--state must be one of unresolved, running, waiting, synced, flatline, cancelled/,
    );
    expect(parse("version --client").command).toEqual({ kind: "version", clientOnly: true, output: "table" });
  });

  it("config: its --token is the context's token, not a connection flag", () => {
    expect(parse("config set-context prod --url https://s --token abc")).toEqual({
      command: { kind: "config-set-context", name: "prod", url: "https://s", token: "abc" },
      connection: {},
    });
    expect(parse("config set-context prod --token-file /t").command).toEqual({
      kind: "config-set-context",
      name: "prod",
      tokenFile: "/t",
    });
    expect(parse("config use-context prod").command).toEqual({ kind: "config-use-context", name: "prod" });
    expect(parse("config get-contexts -o json").command).toEqual({ kind: "config-get-contexts", output: "json" });
    expect(parse("config current-context").command).toEqual({ kind: "config-current-context" });
    expect(usage("config set-context prod --token a --token-file b")).toMatch(/cannot be used together/);
    expect(usage("config use-context prod --url x")).toMatch(/--url cannot be used with config use-context/);
    expect(usage("config view")).toMatch(/unknown config subcommand "view"/);
    expect(usage("config get-contexts --server x")).toMatch(/Unknown option '--server'/);
  });

  it("help: no arguments, --help, help <verb>, <verb> --help", () => {
    expect(parse("").command).toEqual({ kind: "help" });
    expect(parse("--help").command).toEqual({ kind: "help" });
    expect(parse("help logs").command).toEqual({ kind: "help", topic: "logs" });
    expect(parse("get --help").command).toEqual({ kind: "help", topic: "get" });
  });

  it("administration: get audit, trace, override, delete, cleanup, tokens", () => {
    expect(parse(`get audit -w --loop ${ID}`).command).toEqual({
      kind: "get-audit",
      watch: true,
      loopId: ID,
      output: "table",
    });
    expect(usage("get audit --state running")).toMatch(/--state lists loops/);
    expect(usage(`get loops --loop ${ID}`)).toMatch(/--loop filters audit events/);
    expect(parse(`trace ${ID} -o yaml`).command).toEqual({ kind: "trace", id: ID, output: "yaml" });
    expect(parse(`override ${ID} --to flatline --reason stuck`).command).toEqual({
      kind: "override",
      id: ID,
      to: "flatline",
      reason: "stuck",
      output: "table",
    });
    expect(parse(`delete loops ${ID} ${ID}`).command).toMatchObject({ kind: "delete-loops", ids: [ID, ID] });
    expect(usage(`delete loop ${Array.from({ length: 101 }, () => ID).join(" ")}`)).toBe(
      "delete loop takes at most 100 loop ids; got 101",
    );
    expect(parse("cleanup --state synced,cancelled --older-than 1.5h --dry-run").command).toEqual({
      kind: "cleanup",
      states: ["synced", "cancelled"],
      olderThanMs: 5_400_000,
      dryRun: true,
      output: "table",
    });
    expect(usage("cleanup --state synced --older-than 0s")).toBe('--older-than must be at least 1ms; got "0s"');
    expect(usage("cleanup --state synced --older-than 30")).toMatch(/--older-than must be a duration such as 30d/);
    expect(parse("tokens create ci --role operator").command).toEqual({
      kind: "tokens-create",
      name: "ci",
      role: "operator",
      output: "table",
    });
    expect(usage("tokens list --role admin")).toBe("--role cannot be used with tokens list");
    expect(usage("tokens rotate x")).toMatch(/unknown tokens subcommand "rotate"/);
  });

  it("completion and the hidden __complete", () => {
    expect(parse("completion fish").command).toEqual({ kind: "completion", shell: "fish" });
    expect(usage("completion tcsh")).toBe('completion needs a shell: bash, zsh, fish; got "tcsh"');
    expect(parse("__complete loops --server http://x").command).toEqual({ kind: "complete", what: "loops" });
  });

  it("unknown commands, flags, resources and extra arguments are usage errors naming them", () => {
    expect(usage("drain loop x")).toBe('unknown command "drain"');
    expect(usage("get loops --colour")).toMatch(/Unknown option '--colour'/);
    expect(usage("get pods")).toMatch(/unknown resource "pods"/);
    expect(usage(`logs ${ID} extra`)).toBe('unexpected argument "extra"');
    expect(usage("--verbose")).toMatch(/no command given/);
  });
});
