import { describe, expect, it } from "vitest";
import { checkCommit, describeViolations, type StagedFile } from "./commitSafety.ts";

const MAX = 1024 * 1024;
// Built at run time so this file itself holds nothing a secret scanner would flag.
const GH = "ghp" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";
const AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE";
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----\n";
const ANTHROPIC = "sk-ant-" + "api03-abcdefghijklmnopqrstuvwxyz012345";
const OPENAI = "sk-proj-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCD";
const HELD = "replica-held-provider-key-0123456789";

const file = (path: string, text = "ok\n", extra: Partial<StagedFile> = {}): StagedFile => ({
  path,
  sizeBytes: Buffer.byteLength(text),
  text,
  ...extra,
});

describe("checkCommit", () => {
  const cases: { name: string; files: StagedFile[]; rules: string[] }[] = [
    { name: "ordinary source is fine", files: [file("src/a.ts", "export const a = 1;\n")], rules: [] },
    { name: ".env", files: [file(".env", "X=1\n")], rules: ["env-file"] },
    { name: ".env.local in a subdirectory", files: [file("app/.env.local", "X=1\n")], rules: ["env-file"] },
    { name: ".env.example is a template", files: [file(".env.example", "API_KEY=\n")], rules: [] },
    {
      name: "a template with a real key still fails",
      files: [file(".env.example", `K=${GH}\n`)],
      rules: ["credential"],
    },
    { name: "an ssh key file", files: [file("id_ed25519", "x")], rules: ["private-key"] },
    {
      name: "a .pem file with a PEM block",
      files: [file("certs/server.pem", PEM)],
      rules: ["private-key", "credential"],
    },
    { name: "a PEM block in source", files: [file("src/k.ts", `const k = \`${PEM}\`;`)], rules: ["credential"] },
    { name: "a public certificate is fine", files: [file("ca.crt", "-----BEGIN CERTIFICATE-----\nMII\n")], rules: [] },
    { name: "GitHub token", files: [file("config.json", `{"token":"${GH}"}`)], rules: ["credential"] },
    {
      name: "AWS access key id",
      files: [file("deploy.sh", `export AWS_ACCESS_KEY_ID=${AWS_ID}`)],
      rules: ["credential"],
    },
    {
      name: "AWS secret access key",
      files: [file("credentials", `aws_secret_access_key = ${AWS_SECRET}\n`)],
      rules: ["credential"],
    },
    { name: "Anthropic key", files: [file("a.py", `KEY = "${ANTHROPIC}"`)], rules: ["credential"] },
    { name: "OpenAI key", files: [file("a.py", `KEY = "${OPENAI}"`)], rules: ["credential"] },
    { name: "a key the replica holds", files: [file("notes.md", `used ${HELD} here`)], rules: ["credential"] },
    {
      name: "prose mentioning sk- is fine",
      files: [file("README.md", "use an sk-ant- key from the console")],
      rules: [],
    },
    {
      name: "over the size limit",
      files: [file("data.bin", "", { sizeBytes: MAX + 1, text: undefined })],
      rules: ["too-large"],
    },
    {
      name: "exactly the size limit is fine",
      files: [file("data.bin", "", { sizeBytes: MAX, text: undefined })],
      rules: [],
    },
    { name: "ignored file added by force", files: [file("dist/out.js", "x", { ignored: true })], rules: ["ignored"] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = checkCommit(c.files, { maxFileBytes: MAX, secrets: [HELD, "short"] });
      expect(v.map((x) => x.rule)).toEqual(c.rules);
    });
  }

  it("never repeats the secret in what it reports", () => {
    const v = checkCommit([file("a", GH), file("b", HELD)], { maxFileBytes: MAX, secrets: [HELD] });
    const text = describeViolations(v);
    expect(text).not.toContain(GH);
    expect(text).not.toContain(HELD);
    expect(text).toContain("a: contains text that looks like a GitHub token (credential)");
    expect(text).toContain("nothing was committed or pushed");
  });

  it("short held secrets are not matched literally (they would match ordinary text)", () => {
    expect(checkCommit([file("a", "the word short")], { maxFileBytes: MAX, secrets: ["short"] })).toEqual([]);
  });
});
