import { describe, expect, it } from "vitest";
import { parseSlashCommand, signWebhook, verifyWebhookSignature } from "./webhook.ts";

describe("verifyWebhookSignature", () => {
  const body = Buffer.from('{"action":"opened"}');
  it("accepts GitHub's sha256=<hex> of the raw body", () => {
    expect(verifyWebhookSignature("s", body, signWebhook("s", body))).toBe(true);
  });
  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["sha1 only", "sha1=0123"],
    ["wrong secret", signWebhook("other", body)],
    ["truncated", signWebhook("s", body).slice(0, 20)],
    ["not hex", "sha256=zz"],
  ])("refuses a %s signature", (_what, header) => {
    expect(verifyWebhookSignature("s", body, header)).toBe(false);
  });
  it("refuses a body changed after signing", () => {
    expect(verifyWebhookSignature("s", Buffer.from('{"action":"closed"}'), signWebhook("s", body))).toBe(false);
  });
});

describe("parseSlashCommand", () => {
  it.each([
    ["/smith cancel", { command: "cancel", text: "" }],
    ["  /smith retry because the flake is fixed", { command: "retry", text: "because the flake is fixed" }],
    ["/smith steer use the v2 API\nand keep tests", { command: "steer", text: "use the v2 API\nand keep tests" }],
  ])("%j", (body, expected) => {
    expect(parseSlashCommand(body)).toEqual(expected);
  });
  it.each(["/smith steer", "/smith delete", "please /smith cancel", "/smithcancel", "hello"])("ignores %j", (body) => {
    expect(parseSlashCommand(body)).toBeUndefined();
  });
});
