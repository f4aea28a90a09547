import { describe, expect, it } from "vitest";
import { sanitizeEnv } from "./sanitizeEnv.ts";

const HOST = {
  PATH: "/usr/bin:/bin",
  HOME: "/home/smith",
  LANG: "C.UTF-8",
  TERM: "xterm-256color",
  IS_SANDBOX: "1",
  HTTPS_PROXY: "http://proxy:3128",
  SMITH_TOKEN: "smr.replica-token",
  SMITH_API_URL: "http://api:8080",
  smith_lowercase: "x",
  ANTHROPIC_API_KEY: "sk-ant",
  ANTHROPIC_AUTH_TOKEN: "gateway-bearer",
  CLAUDE_CODE_OAUTH_TOKEN: "oauth",
  OPENAI_API_KEY: "sk-openai",
  CODEX_API_KEY: "sk-codex",
  GITHUB_TOKEN: "ghp_x",
  GH_TOKEN: "ghp_y",
  AWS_SECRET_ACCESS_KEY: "aws",
  DB_PASSWORD: "pw",
  SIGNING_SECRET: "s",
  GOOGLE_APPLICATION_CREDENTIALS: "/var/run/creds.json",
  npm_config__authToken: "npm",
  UNSET: undefined,
};

describe("sanitizeEnv", () => {
  it("drops SMITH_* and secret-looking names but keeps provider keys and the ordinary environment", () => {
    expect(sanitizeEnv(HOST)).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/home/smith",
      LANG: "C.UTF-8",
      TERM: "xterm-256color",
      IS_SANDBOX: "1",
      HTTPS_PROXY: "http://proxy:3128",
      ANTHROPIC_API_KEY: "sk-ant",
      ANTHROPIC_AUTH_TOKEN: "gateway-bearer",
      CLAUDE_CODE_OAUTH_TOKEN: "oauth",
      OPENAI_API_KEY: "sk-openai",
      CODEX_API_KEY: "sk-codex",
    });
  });

  it("keeps what `allow` names, but never the replica's own variables", () => {
    const env = sanitizeEnv(HOST, { allow: ["GITHUB_TOKEN", "SMITH_TOKEN"] });
    expect(env).toHaveProperty("GITHUB_TOKEN", "ghp_x");
    expect(env).not.toHaveProperty("GH_TOKEN");
    expect(env).not.toHaveProperty("SMITH_TOKEN");
  });
});
