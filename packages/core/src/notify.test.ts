import { describe, expect, it } from "vitest";
import { CreateLoopInput, type Loop } from "./loop.ts";
import { notificationBody, notifyTransitionKey } from "./notify.ts";

const spec = (urls: string[]) => ({
  repo: { url: "https://github.com/o/r.git" },
  prd: { kind: "path" as const },
  notify: { urls },
});

function issues(urls: string[]) {
  const r = CreateLoopInput.safeParse({ spec: spec(urls) });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("spec.notify.urls", () => {
  it("accepts up to 5 http(s) URLs and names the field and the limit otherwise", () => {
    expect(issues(["https://hooks.slack.com/services/T/B/x", "http://127.0.0.1:8080/hook"])).toEqual([]);
    expect(issues(Array.from({ length: 6 }, (_, i) => `https://h${i}.example/`))).toEqual([
      "spec.notify.urls: at most 5 notification URLs",
    ]);
    expect(issues([`https://x.example/${"a".repeat(2048)}`])).toEqual([
      "spec.notify.urls.0: a notification URL is limited to 2048 characters",
    ]);
    expect(issues(["ftp://x.example/"])).toEqual(["spec.notify.urls.0: must be an http:// or https:// URL"]);
    expect(issues(["not a url"])).toEqual(["spec.notify.urls.0: must be an absolute http(s) URL"]);
    expect(issues(["https://u:p@x.example/"])).toEqual(["spec.notify.urls.0: must not carry a user name or password"]);
  });
});

describe("notification transitions and bodies", () => {
  const base = CreateLoopInput.parse({ spec: spec([]) });
  const loop = (status: Partial<Loop["status"]>): Loop => ({
    schemaVersion: 1,
    id: "01jabcdefghjkmnpqrstvwxyz0",
    source: base.source,
    spec: { ...base.spec, title: "Ship it" },
    priority: 100,
    concurrencyKey: "k",
    labels: {},
    status: {
      state: "running",
      attempt: 2,
      attemptBase: 0,
      iterationBase: 0,
      iteration: 4,
      progress: { done: 1, total: 2 },
      createdAt: "2026-01-01T00:00:00.000Z",
      updatedAt: "2026-01-01T01:00:00.000Z",
      ...status,
    },
    cost: { inputTokens: 1, outputTokens: 1, usd: 0.5 },
    steering: [],
  });

  it("one key per entry into waiting, flatline or synced; none elsewhere; later writes keep it", () => {
    expect(notifyTransitionKey(loop({}))).toBeUndefined();
    expect(notifyTransitionKey(loop({ state: "unresolved" }))).toBeUndefined();
    const waiting = loop({ state: "waiting", waitingSince: "2026-01-01T01:00:00.000Z" });
    expect(notifyTransitionKey(waiting)).toBe(`waiting-a2-${Date.parse("2026-01-01T01:00:00.000Z")}`);
    expect(
      notifyTransitionKey({ ...waiting, status: { ...waiting.status, updatedAt: "2026-01-02T00:00:00.000Z" } }),
    ).toBe(notifyTransitionKey(waiting));
    const synced = loop({ state: "synced", finishedAt: "2026-01-01T02:00:00.000Z" });
    expect(notifyTransitionKey(synced)).toBe(`synced-a2-${Date.parse("2026-01-01T02:00:00.000Z")}`);
  });

  it("the body carries the loop, the PR and a Slack-safe text", () => {
    const synced = loop({
      state: "synced",
      reason: "all-stories-passed",
      finishedAt: "2026-01-01T02:00:00.000Z",
      pullRequest: { url: "https://github.com/o/r/pull/7", number: 7 },
    });
    const body = notificationBody(synced, "42", new Date("2026-01-01T02:00:01.000Z"));
    expect(body).toMatchObject({
      event: "loop.synced",
      id: `${synced.id}/synced-a2-${Date.parse("2026-01-01T02:00:00.000Z")}`,
      sentAt: "2026-01-01T02:00:01.000Z",
      loop: {
        state: "synced",
        revision: "42",
        pullRequest: "https://github.com/o/r/pull/7",
        enteredAt: "2026-01-01T02:00:00.000Z",
      },
    });
    expect(body?.text).toBe(
      `Smith loop "Ship it" (${synced.id}) is synced (all-stories-passed). Pull request: https://github.com/o/r/pull/7`,
    );
    expect(notificationBody(loop({}), "1", new Date())).toBeUndefined();
  });
});
