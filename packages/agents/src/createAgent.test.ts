import { AgentSpec } from "@smith/core";
import { describe, expect, it } from "vitest";
import { ClaudeCodeAdapter } from "./claudeCode.ts";
import { CodexAdapter } from "./codex.ts";
import { CommandAdapter } from "./command.ts";
import { createAgent } from "./createAgent.ts";
import { ReplayAdapter } from "./replay.ts";

describe("createAgent", () => {
  it("builds the adapter for each provider", () => {
    expect(createAgent(AgentSpec.parse({}), { binaries: { claude: "/opt/claude" } })).toBeInstanceOf(ClaudeCodeAdapter);
    expect(createAgent(AgentSpec.parse({ provider: "codex" }))).toBeInstanceOf(CodexAdapter);
    expect(createAgent(AgentSpec.parse({ provider: "command", command: "./agent.sh" }))).toBeInstanceOf(CommandAdapter);
    expect(
      createAgent(AgentSpec.parse({ provider: "replay", replayDir: "rec" }), { replayDir: "/abs/rec" }),
    ).toBeInstanceOf(ReplayAdapter);
    expect(createAgent(AgentSpec.parse({ provider: "replay", replayDir: "/abs/rec" }))).toBeInstanceOf(ReplayAdapter);
  });

  it("refuses a replay agent without an absolute recordings directory", () => {
    expect(() => createAgent(AgentSpec.parse({ provider: "replay", replayDir: "relative" }))).toThrow(
      /absolute recordings directory/,
    );
    expect(() => createAgent(AgentSpec.parse({ provider: "replay" }), { replayDir: "relative" })).toThrow(/absolute/);
  });
});
