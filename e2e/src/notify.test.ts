import { stackTest as test } from "./fixtures.ts";
import type { NotificationBody } from "@smith/core";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect } from "vitest";
import { claudeFake, FAKE_PRD, WORKS } from "./fakes.ts";
import { writeFakeAgent } from "./harness.ts";
import { demo } from "./support.ts";

const SECRET = "e2e-notify-secret-0123456789";

/** The receiver's check, as docs/operations.md#notifications tells it (independent of Smith's code). */
function signedBy(secret: string, raw: string, signature: string | undefined): boolean {
  const expected = Buffer.from("sha256=" + createHmac("sha256", secret).update(raw).digest("hex"));
  const given = Buffer.from(signature ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe("notifications", () => {
  test("two schedulers, a loop that waits for an answer and then syncs: the receiver gets exactly one signed message per transition", async ({
    stack,
    tmpDir,
    onTestFinished,
  }) => {
    const got: { raw: string; headers: IncomingHttpHeaders }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        got.push({ raw: Buffer.concat(chunks).toString("utf8"), headers: req.headers });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    const d = demo(tmpDir, { prd: FAKE_PRD, recordings: {} });
    // US-001's first run asks a question; with the answer in the prompt, every run does the work.
    const asks = `if (prompt.includes("## Answers from a person") || story !== "US-001") { ${WORKS} } else {
  emit({ type: "result", subtype: "success", is_error: false, duration_ms: 5, num_turns: 1, result: "SMITH-QUESTION: Which file name?", session_id: "fake", total_cost_usd: 0.01, usage: { input_tokens: 10, output_tokens: 5 } });
  process.exit(0);
}`;
    const bin = writeFakeAgent(tmpDir, "claude", claudeFake(asks));
    const env = { SMITH_CLAUDE_BIN: bin, SMITH_NOTIFY_URLS: url, SMITH_NOTIFY_SECRET: SECRET };
    stack.startScheduler(env);
    stack.startScheduler(env);
    const created = await stack.create({
      spec: {
        title: "notify me",
        repo: { url: d.remoteUrl },
        prd: { kind: "path", path: d.prdPath },
        agent: { provider: "claude" },
      },
    });
    const waiting = await stack.waitFor(created.id, ["waiting", "synced", "flatline", "cancelled"], 40_000);
    expect(waiting.status).toMatchObject({ state: "waiting", reason: "question" });
    await stack.waitUntil(async () => got.length >= 1, 20_000, "the waiting notification");
    await stack.admin.loops.answer.mutate({ id: created.id, answer: "done-<story>.txt" });
    const loop = await stack.waitFor(created.id, ["synced", "flatline", "cancelled"], 40_000);
    expect(loop.status.state).toBe("synced");
    await stack.waitUntil(async () => got.length >= 2, 20_000, "the synced notification");
    // A duplicate from the other scheduler would arrive by now.
    await new Promise((r) => setTimeout(r, 1_500));

    expect(got).toHaveLength(2);
    const bodies = got.map((m) => JSON.parse(m.raw) as NotificationBody);
    expect(bodies.map((b) => b.event)).toEqual(["loop.waiting", "loop.synced"]);
    for (const m of got) {
      expect(signedBy(SECRET, m.raw, m.headers["x-smith-signature"] as string | undefined)).toBe(true);
      expect(signedBy("not-the-secret-0123456789", m.raw, m.headers["x-smith-signature"] as string | undefined)).toBe(
        false,
      );
      const sentAt = (JSON.parse(m.raw) as NotificationBody).sentAt;
      expect(m.headers["x-smith-timestamp"]).toBe(String(Math.floor(Date.parse(sentAt) / 1000)));
      expect(m.headers["content-type"]).toBe("application/json");
    }
    expect(bodies[0]?.loop).toMatchObject({
      id: loop.id,
      title: "notify me",
      question: "Which file name?",
      attempt: 1,
    });
    expect(bodies[1]?.loop).toMatchObject({ id: loop.id, state: "synced", reason: "all-stories-passed", attempt: 2 });
    expect(bodies[1]?.text).toBe(
      `Smith loop "notify me" (${loop.id}) is synced (all-stories-passed: all 2 stories pass).`,
    );
    const notes = (await stack.journal(loop.id)).filter((e) => e.phase === "notify");
    expect(notes.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /^waiting notification to http:\/\/127\.0\.0\.1:\d+ delivered \(HTTP 200\) after 1 attempt$/,
      ),
      expect.stringMatching(
        /^synced notification to http:\/\/127\.0\.0\.1:\d+ delivered \(HTTP 200\) after 1 attempt$/,
      ),
    ]);
  }, 150_000);
});
