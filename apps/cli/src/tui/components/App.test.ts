import { etcdTest as test } from "@smith/testing";
import { render } from "ink-testing-library";
import { describe, expect } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ApiServer } from "@smith/api";
import { silentLogger } from "@smith/logger";
import {
  ADMIN_TOKEN,
  TEST_PRD,
  SIGNING_KEY,
  lockedReplica,
  loopInput,
  runLoop,
  startTestApi,
  type TestApi,
} from "@smith/api/testSupport";
import { App } from "./App.ts";
import { TuiController } from "../controller.ts";
import { shortId } from "../format.ts";
import { html } from "../html.ts";

// The screens against a real API and etcd: loops and journal entries are written through the
// API and the store, and reach the screen through loops.watch and journal.tail.

const SIZE = { rows: 30, columns: 100 };

interface Mounted {
  controller: TuiController;
  frames: string[];
  frame: () => string;
  press: (keys: string) => void;
  /** Waits until the last frame passes `check`; on timeout fails showing that frame. */
  waitFor: (check: (frame: string) => boolean, what: string, timeoutMs?: number) => Promise<string>;
  unmount: () => void;
}

function mount(
  api: TestApi,
  options: { journalLimit?: number; token?: string; size?: { rows: number; columns: number } } = {},
): Mounted {
  const controller = new TuiController({
    client: api.client(options.token ?? api.tokens.operator),
    journalLimit: options.journalLimit,
  });
  const r = render(
    html`<${App} controller=${controller} context="test" url=${api.url} size=${options.size ?? SIZE} />`,
  );
  controller.start();
  const frame = () => r.lastFrame() ?? "";
  return {
    controller,
    frames: r.frames,
    frame,
    press: (keys) => r.stdin.write(keys),
    waitFor: async (check, what, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!check(frame())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the screen shows:\n${frame()}`);
        await new Promise((res) => setTimeout(res, 20));
      }
      return frame();
    },
    unmount: () => {
      controller.stop();
      r.unmount();
    },
  };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const KEY = { enter: "\r", esc: "\u001b", down: "\u001b[B", up: "\u001b[A", pageUp: "\u001b[5~" } as const;

/** The table row of a loop (by its short id). */
function rowOf(frame: string, loopId: string): string {
  return frame.split("\n").find((l) => l.includes(shortId(loopId))) ?? "";
}

/**
 * Three loops in three states, oldest first: one running with progress and cost, one cancelled,
 * one queued (created after the claim, so that the claim cannot take it).
 */
async function threeLoops(api: TestApi): Promise<{ queued: string; running: string; cancelled: string }> {
  const op = api.client(api.tokens.operator);
  const titled = (title: string) => loopInput({ spec: { ...loopInput().spec, title } });
  const running = (await op.loops.create.mutate(titled("busy work"))).loop.id;
  const attempt = await runLoop(api, running);
  await api.store.loops.transition(running, {
    type: "iterationRecorded",
    attempt,
    iteration: 1,
    progress: { done: 1, total: 2 },
    cost: { inputTokens: 1000, outputTokens: 200, usd: 1.25 },
    at: new Date().toISOString(),
  });
  const cancelled = (await op.loops.create.mutate(titled("dropped work"))).loop.id;
  await op.loops.cancel.mutate({ id: cancelled, reason: "not needed" });
  const queued = (await op.loops.create.mutate(titled("queued work"))).loop.id;
  return { queued, running, cancelled };
}

const allThree = (f: string) => f.includes("queued work") && f.includes("busy work") && f.includes("dropped work");

describe("smith tui screens", () => {
  test("the table shows every loop with its state, progress, iteration, attempt and cost, and the header counts them", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const ids = await threeLoops(api);
    const ui = mount(api);
    try {
      const frame = await ui.waitFor(allThree, "three loops");
      expect(frame).toContain("context test");
      expect(frame).toContain(api.url);
      expect(frame).toContain("● connected");
      expect(frame).toMatch(/3 loops +unresolved 1 +running 1 +waiting 0 +synced 0 +flatline 0 +cancelled 1/);
      // loops.stats: the claim's scheduler session, and the one queued loop (the cancelled one left the queue).
      const header = await ui.waitFor((f) => /schedulers \d/.test(f), "the scheduler count");
      expect(header).toMatch(/^Loops +schedulers 1 {2}queue 1$/m);
      expect(rowOf(frame, ids.running)).toMatch(/busy work +running +█████░░░░░ 1\/2 +1 +1 +\$1\.25 +\d+s/);
      expect(rowOf(frame, ids.queued)).toMatch(/queued work +unresolved +░░░░░░░░░░ 0\/2 +0 +0 +\$0\.00/);
      expect(rowOf(frame, ids.cancelled)).toMatch(/dropped work +cancelled/);
      // Newest first, and the selection starts on the top row.
      expect(rowOf(frame, ids.queued)).toMatch(/^▶ /);
      expect(frame.indexOf(shortId(ids.queued))).toBeLessThan(frame.indexOf(shortId(ids.cancelled)));
      expect(frame.indexOf(shortId(ids.cancelled))).toBeLessThan(frame.indexOf(shortId(ids.running)));

      // Live: a change made elsewhere reaches the row without a key press.
      await api.client(api.tokens.operator).loops.cancel.mutate({ id: ids.queued, reason: "changed elsewhere" });
      await ui.waitFor((f) => /queued work +cancelled/.test(f) && /unresolved 0 .*cancelled 2/.test(f), "the change");
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("j/k and the arrows move the selection; enter opens the detail view with the journal; esc comes back", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const ids = await threeLoops(api);
    const ui = mount(api);
    try {
      await ui.waitFor((f) => allThree(f) && rowOf(f, ids.queued).startsWith("▶ "), "the loops");
      ui.press("j");
      await ui.waitFor((f) => rowOf(f, ids.cancelled).startsWith("▶ "), "the second row selected");
      ui.press(KEY.down);
      await ui.waitFor((f) => rowOf(f, ids.running).startsWith("▶ "), "the third row selected");
      ui.press("j"); // already on the last row: stays
      ui.press("k");
      await ui.waitFor((f) => rowOf(f, ids.cancelled).startsWith("▶ "), "back on the second row");
      ui.press(KEY.down);
      await ui.waitFor((f) => rowOf(f, ids.running).startsWith("▶ "), "on the running loop");

      ui.press(KEY.enter);
      const detail = await ui.waitFor(
        (f) => f.includes(`Loops ▸ ${shortId(ids.running)}`) && /loop created by op/.test(f),
        "the detail view with its journal",
      );
      expect(detail).toContain(ids.running);
      expect(detail).toMatch(/state +running/);
      expect(detail).toMatch(/progress +█+░+ 1\/2 +iteration 1\/50 +attempt 1\/3/);
      expect(detail).toMatch(/cost +\$1\.25 +tokens in 1000 \/ out 200/);
      expect(detail).toMatch(/Journal following/);

      ui.press(KEY.esc);
      await ui.waitFor(
        (f) => f.includes("TITLE / REPO") && rowOf(f, ids.running).startsWith("▶ "),
        "the table again, same selection",
      );
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("the loop view's stories panel: the PRD's stories with their evidence (state, gates, commit), the pull request and the latest handoff", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const { loopId, r } = await lockedReplica(api, loopInput({ spec: { ...loopInput().spec, title: "storied" } }));
    const gate = (command: string, passed: boolean) => ({
      command,
      exitCode: passed ? 0 : 1,
      durationMs: 1200,
      passed,
      outputTail: passed ? "ok" : "1 failing",
    });
    const at = new Date().toISOString();
    await r.replica.recordEvidence.mutate({
      loopId,
      update: {
        story: {
          storyId: "US-001",
          state: "passed",
          iterations: 1,
          iteration: 1,
          at,
          gates: [gate("npm test", true), gate("npm run lint", true)],
          commit: "0123456789abcdef0123456789abcdef01234567",
        },
      },
    });
    const ui = mount(api, { size: { rows: 30, columns: 160 } });
    try {
      await ui.waitFor((f) => f.includes("storied"), "the loop");
      ui.press(KEY.enter);
      let f = await ui.waitFor((s) => s.includes("Stories 1/2 passed"), "the stories panel");
      expect(f).toMatch(/✓ US-001 +passed +One +gates 2\/2 +commit 0123456789$/m);
      expect(f).toMatch(/· US-002 +open +Two$/m);
      expect(f).not.toContain("Handoff");

      // A failed iteration of the second story, a handoff and the pull request, all live.
      await r.replica.recordEvidence.mutate({
        loopId,
        update: {
          story: {
            storyId: "US-002",
            state: "failed",
            iterations: 2,
            iteration: 3,
            at,
            gates: [gate("npm test", false), gate("npm run lint", true)],
          },
        },
      });
      await r.replica.writeHandoff.mutate({
        loopId,
        handoff: {
          done: ["US-001"],
          remaining: ["US-002"],
          diffSummary: " 3 files changed, 40 insertions(+), 2 deletions(-)\n",
          nextSteps: ["fix the \u001b[2Jfailing test"],
          validation: { state: "partial" },
        },
      });
      await api.store.loops.update(loopId, (l) => ({
        ...l,
        status: { ...l.status, pullRequest: { url: "https://github.com/acme/app/pull/7", number: 7 } },
      }));
      // The handoff is polled with loops.stats (every 5 s).
      f = await ui.waitFor((s) => s.includes("Handoff") && s.includes("pull/7"), "the handoff and the PR", 20_000);
      expect(f).toMatch(/Stories 1\/2 passed +PR https:\/\/github\.com\/acme\/app\/pull\/7/);
      expect(f).toMatch(/✗ US-002 +failed +Two +gates 1\/2$/m);
      expect(f).toMatch(
        /Handoff #1 \d\d:\d\d:\d\d \(\d+s ago\) partial · done 1 · remaining 1 · 3 files changed, 40 insertions\(\+\), 2 deletions\(-\) · next: fix the \\x1b\[2Jfailing test/,
      );
      // The journal still has its place below.
      expect(f).toMatch(/Journal following/);
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("/ in the journal searches as it is typed and jumps to the newest match; n and N go to older and newer matches; esc clears, esc again goes back", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const { loop } = await api
      .client(api.tokens.operator)
      .loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "searched" } }));
    const actor = { type: "agent", id: "replay" } as const;
    // Three needles 20 lines apart: the journal shows 12 lines, so one needle at a time.
    const messages = Array.from({ length: 60 }, (_, i) =>
      i % 20 === 5 ? `found the Needle-${"ABC"[Math.floor(i / 20)]}` : `hay ${i}`,
    );
    await api.store.journal.append(
      loop.id,
      messages.map((message) => ({ phase: "agent", actor, message })),
    );
    const ui = mount(api);
    const visible = (f: string) => ["A", "B", "C"].filter((n) => f.includes(`Needle-${n}`));
    try {
      await ui.waitFor((f) => f.includes("searched"), "the loop");
      ui.press(KEY.enter);
      await ui.waitFor((f) => f.includes("hay 59"), "the journal's newest lines");
      ui.press("/");
      ui.press("needle");
      let f = await ui.waitFor((s) => s.includes("/needle 3 matching"), "the search");
      expect(f).toContain("search /needle");
      expect(visible(f)).toEqual(["C"]);
      expect(f).toMatch(/Journal paused/);
      ui.press(KEY.enter);
      ui.press("n");
      f = await ui.waitFor((s) => visible(s).join() === "B", "the older match");
      ui.press("n");
      f = await ui.waitFor((s) => visible(s).join() === "A", "the oldest match");
      ui.press("n");
      await ui.waitFor((s) => s.includes("no older line matches /needle"), "no older match");
      ui.press("N");
      await ui.waitFor((s) => visible(s).join() === "B", "the newer match again");
      ui.press("/");
      ui.press("zzz");
      await ui.waitFor((s) => s.includes("no line matches /needlezzz"), "no match while typing");
      ui.press(KEY.esc); // gives the typed search up: back to /needle
      await ui.waitFor((s) => s.includes("/needle 3 matching") && !s.includes("search /"), "the previous search");
      ui.press(KEY.esc); // clears it
      f = await ui.waitFor((s) => !s.includes("matching (n/N)"), "the search cleared");
      expect(f).toContain(`Loops ▸ ${shortId(loop.id)}`);
      ui.press(KEY.esc); // back to the table
      await ui.waitFor((s) => s.includes("TITLE / REPO"), "the table");
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test(": switches views: :audit lists the day's audit events newest first, :cost the totals and the costliest loops, :loops and esc come back; an unknown view is a status line", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const ids = await threeLoops(api);
    const ui = mount(api);
    try {
      await ui.waitFor(allThree, "the loops");
      ui.press(":");
      ui.press("audit");
      await ui.waitFor((f) => f.includes(":audit"), "the command prompt");
      ui.press(KEY.enter);
      let f = await ui.waitFor((s) => s.includes("events in the last day, newest first"), "the audit view");
      expect(f).toMatch(/^Audit /m);
      const cancelRow = f.split("\n").find((l) => l.includes("loops.cancel")) ?? "";
      expect(cancelRow).toMatch(
        new RegExp(`\\d\\d:\\d\\d:\\d\\d +ok +loops\\.cancel +${shortId(ids.cancelled)} +operator:op.* +not needed$`),
      );
      // Newest first: the last create is above the cancel, which is above the first create.
      const creates = f.split("\n").filter((l) => l.includes("loops.create"));
      expect(creates).toHaveLength(3);
      expect(f.indexOf(shortId(ids.queued))).toBeLessThan(f.indexOf("loops.cancel"));
      const lines = f.split("\n");
      const row = (action: string, id: string) => lines.findIndex((l) => l.includes(action) && l.includes(shortId(id)));
      expect(row("loops.cancel", ids.cancelled)).toBeLessThan(row("loops.create", ids.cancelled));
      expect(row("loops.create", ids.cancelled)).toBeLessThan(row("loops.create", ids.running));
      expect(row("loops.create", ids.running)).toBeGreaterThan(0);
      expect(f).not.toContain("busy work");

      ui.press(":cost");
      ui.press(KEY.enter);
      f = await ui.waitFor((s) => s.includes("Total $1.25"), "the cost view");
      expect(f).toMatch(/Total \$1\.25 +3 loops +tokens in 1000 \/ out 200/);
      const rows = f.split("\n").filter((l) => /work$/.test(l));
      expect(rows[0]).toMatch(new RegExp(`^${shortId(ids.running)} +\\$1\\.25 +- +1000 +200 +busy work$`));
      expect(rows).toHaveLength(3);

      ui.press(":nope");
      ui.press(KEY.enter);
      await ui.waitFor((s) => s.includes("no view :nope (there are :loops, :audit, :cost)"), "the unknown view");
      ui.press(KEY.esc);
      await ui.waitFor((s) => allThree(s) && s.includes("TITLE / REPO"), "the loops again");
      ui.press(":audit\r");
      await ui.waitFor((s) => s.includes("newest first"), "the audit view again");
      ui.press(":loops\r");
      await ui.waitFor((s) => s.includes("TITLE / REPO"), "the loops by :loops");
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("n creates a loop from a PRD file and a repository URL; a missing file or an invalid PRD is a status line and creates nothing", async ({
    etcdEndpoint,
    prefix,
    tmpDir,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const good = join(tmpDir, "prd.json");
    writeFileSync(good, TEST_PRD);
    const bad = join(tmpDir, "bad.json");
    // The second story depends on one that does not exist.
    writeFileSync(bad, TEST_PRD.replace('"dependsOn":["US-001"]', '"dependsOn":["US-404"]'));
    const viewer = api.client(api.tokens.viewer);
    const ui = mount(api);
    const create = async (prd: string, repo: string) => {
      ui.press("n");
      await ui.waitFor((f) => f.includes("PRD file (JSON or .md):"), "the PRD prompt");
      ui.press(prd);
      ui.press(KEY.enter);
      await ui.waitFor((f) => f.includes("repository URL:"), "the repository prompt");
      ui.press(repo);
      ui.press(KEY.enter);
    };
    try {
      await ui.waitFor((f) => f.includes("no loop"), "the empty table");
      await create(join(tmpDir, "missing.json"), "https://example.com/acme/app.git");
      await ui.waitFor((f) => f.includes("failed, no such file"), "the missing file");
      await create(bad, "https://example.com/acme/app.git");
      const f = await ui.waitFor((s) => s.includes("is not valid, nothing created"), "the invalid PRD");
      expect(f).toMatch(/stories\[1\]\.dependsOn\[0\]/);
      expect((await viewer.loops.list.query({})).items).toHaveLength(0);

      await create(good, "https://example.com/acme/app.git");
      await ui.waitFor((s) => /created from .*prd\.json/.test(s) && s.includes("unresolved"), "the new loop");
      const { items } = await viewer.loops.list.query({});
      expect(items).toHaveLength(1);
      expect(items[0]?.spec.prd).toMatchObject({ kind: "inline", content: TEST_PRD });
      expect(items[0]?.spec.repo.url).toBe("https://example.com/acme/app.git");
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("a title and journal messages with terminal control sequences are shown escaped in the table and the detail view", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    // Clear screen, set the window title (OSC ... BEL), print over a failure from column 0, reverse the rest.
    const hostile = ["\u001b[2J", "\u001b]0;x\u0007", "\r ALL TESTS PASSED", "\u202e"];
    const shown = ["\\x1b[2J", "\\x1b]0;x\\x07", "\\r ALL TESTS PASSED", "\\u202e"];
    const op = api.client(api.tokens.operator);
    const { loop } = await op.loops.create.mutate(
      loopInput({ spec: { ...loopInput().spec, title: `t${hostile.join("")}` } }),
    );
    await api.store.journal.append(
      loop.id,
      hostile.map((message) => ({ phase: "agent", actor: { type: "agent", id: "fake" }, message: `m${message}` })),
    );
    // eslint-disable-next-line no-control-regex -- control characters are what is checked
    const raw = /\u001b\[2J|\u001b\]0;|\u0007|\r|\u202e/;
    const ui = mount(api);
    try {
      const table = await ui.waitFor((f) => rowOf(f, loop.id).includes(`t${shown[0]}`), "the escaped title");
      expect(table).not.toMatch(raw);
      ui.press(KEY.enter);
      const detail = await ui.waitFor((f) => f.includes(`m${shown[3]}`), "the escaped journal");
      expect(detail).not.toMatch(raw);
      expect(detail).toMatch(new RegExp(`title +${escapeRegExp(`t${shown.join("")}`)}`));
      for (const s of shown) expect(detail).toMatch(new RegExp(`agent +${escapeRegExp(`m${s}`)}`));
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("/ filters by title, id, repository or state as it is typed; esc clears it", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const ids = await threeLoops(api);
    const ui = mount(api);
    try {
      await ui.waitFor(allThree, "the loops");
      ui.press("/");
      ui.press("cancel");
      let f = await ui.waitFor((s) => s.includes("/cancel") && !s.includes("busy work"), "only the cancelled loop");
      expect(f).toContain("dropped work");
      expect(f).not.toContain("queued work");
      ui.press(KEY.enter);
      // Search by the id's end, as the table shows it.
      ui.press("/");
      for (let i = 0; i < "cancel".length; i++) ui.press("\u007f");
      ui.press(shortId(ids.queued));
      f = await ui.waitFor((s) => s.includes("queued work") && !s.includes("dropped work"), "only the queued loop");
      ui.press(KEY.enter);
      await ui.waitFor((s) => s.includes(`filter /${shortId(ids.queued)}`), "the filter in the header");
      ui.press(KEY.esc);
      await ui.waitFor((s) => allThree(s) && !s.includes("filter /"), "all loops again");
      ui.press("/");
      ui.press("no such loop");
      await ui.waitFor((s) => s.includes("no loop matches /no such loop"), "the empty result");
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("? shows the key bindings; any key closes them", async ({ etcdEndpoint, prefix }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const ui = mount(api);
    try {
      await api
        .client(api.tokens.operator)
        .loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "some work" } }));
      await ui.waitFor((f) => f.includes("some work"), "the loop");
      ui.press("?");
      const help = await ui.waitFor((f) => f.includes("any key closes this help"), "the help");
      expect(help).toMatch(/enter +open the loop/);
      expect(help).toMatch(/c +cancel the loop/);
      expect(help).toMatch(/f, g \/ G +follow on \/ off/);
      expect(help).toMatch(/\/, n \/ N +search the journal/);
      expect(help).toMatch(/: +switch views: :loops, :audit/);
      expect(help).not.toContain("some work");
      ui.press("q"); // closes the help; does not quit
      await ui.waitFor((f) => f.includes("some work") && !f.includes("any key closes"), "the table again");
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("cancel: c, y, a reason and enter call loops.cancel; a refused mutation is a red status line, not a crash", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const ui = mount(api);
    try {
      const { loop } = await api
        .client(api.tokens.operator)
        .loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "to cancel" } }));
      await ui.waitFor((f) => /to cancel +unresolved/.test(f), "the loop");
      ui.press("c");
      await ui.waitFor((f) => f.includes(`Cancel loop ${shortId(loop.id)} (to cancel)? y/n`), "the confirmation");
      ui.press("y");
      await ui.waitFor((f) => f.includes("cancel reason:"), "the reason prompt");
      ui.press("superseded by #42");
      ui.press(KEY.enter);
      await ui.waitFor(
        (f) => /to cancel +cancelled/.test(f) && f.includes(`loop ${shortId(loop.id)} cancelled`),
        "the cancelled loop and the status line",
      );
      const stored = await api.store.loops.getOrThrow(loop.id);
      expect(stored.loop.status.state).toBe("cancelled");
      const audit = await api.client(api.tokens.viewer).audit.list.query({ loopId: loop.id });
      expect(audit.items.map((e) => [e.action, e.reason])).toContainEqual(["loops.cancel", "superseded by #42"]);

      // Again: the lifecycle refuses; the UI says so and keeps running.
      ui.press("c");
      ui.press("y");
      await ui.waitFor((f) => f.includes("cancel reason:"), "the reason prompt");
      ui.press("twice");
      ui.press(KEY.enter);
      const refused = await ui.waitFor((f) => f.includes(`cancel ${shortId(loop.id)} failed`), "the error");
      expect(refused).toContain("PRECONDITION_FAILED");
      ui.press("j");
      ui.press("?");
      await ui.waitFor((f) => f.includes("any key closes this help"), "the UI still answering keys");
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("steer and retry from the detail view; a viewer's token is refused with FORBIDDEN on the status line", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const ui = mount(api);
    const viewerUi = mount(api, { token: api.tokens.viewer });
    try {
      const { loop } = await api
        .client(api.tokens.operator)
        .loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "to steer" } }));
      await ui.waitFor((f) => f.includes("to steer"), "the loop");
      ui.press(KEY.enter);
      await ui.waitFor((f) => f.includes(`Loops ▸ ${shortId(loop.id)}`), "the detail view");
      ui.press("s");
      ui.press("prefer small commits");
      ui.press(KEY.enter);
      await ui.waitFor(
        (f) => f.includes(`steering message queued for loop ${shortId(loop.id)}`) && f.includes("1 message(s) pending"),
        "the steering message",
      );
      expect((await api.store.loops.getOrThrow(loop.id)).loop.steering.map((m) => m.message)).toEqual([
        "prefer small commits",
      ]);
      // Retry is for flatlined loops only: the API refuses, the screen says why.
      ui.press("r");
      ui.press("try again");
      ui.press(KEY.enter);
      await ui.waitFor(
        (f) => f.includes(`retry ${shortId(loop.id)} failed`) && f.includes("PRECONDITION_FAILED"),
        "the refused retry",
      );

      await viewerUi.waitFor((f) => f.includes("to steer"), "the loop, for the viewer");
      viewerUi.press("c");
      viewerUi.press("y");
      viewerUi.press("nope");
      viewerUi.press(KEY.enter);
      await viewerUi.waitFor(
        (f) => f.includes(`cancel ${shortId(loop.id)} failed`) && f.includes("FORBIDDEN"),
        "the refusal",
      );
    } finally {
      viewerUi.unmount();
      ui.unmount();
      await api.close();
    }
  });

  test("the journal streams entries appended through the store; scrolling pauses it, f follows again", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const ui = mount(api);
    try {
      const { loop } = await api
        .client(api.tokens.operator)
        .loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "streaming" } }));
      await ui.waitFor((f) => f.includes("streaming"), "the loop");
      ui.press(KEY.enter);
      await ui.waitFor((f) => /loop created by op/.test(f), "the first entry");
      const actor = { type: "agent", id: "replay" } as const;
      await api.store.journal.append(loop.id, [{ phase: "agent", actor, message: "thinking about US-001" }]);
      await ui.waitFor((f) => f.includes("thinking about US-001"), "the appended entry");
      await api.store.journal.append(loop.id, [
        { phase: "gate", level: "error", actor, message: "failed: npm test\nexpected 3, got 4" },
        ...Array.from({ length: 3 }, (_, i) => ({ phase: "agent" as const, actor, message: `step ${i + 1}` })),
      ]);
      let f = await ui.waitFor((s) => s.includes("step 3"), "the newest entry");
      expect(f).toMatch(/gate +failed: npm test ↵/);
      expect(f).toContain("6 lines kept of 2000");
      // More than a screenful: the view follows the newest.
      await api.store.journal.append(
        loop.id,
        Array.from({ length: 30 }, (_, i) => ({ phase: "agent" as const, actor, message: `step ${i + 4}` })),
      );
      f = await ui.waitFor((s) => s.includes("step 33"), "the newest entry, followed");
      expect(f).not.toContain("step 3\n");

      ui.press(KEY.pageUp);
      f = await ui.waitFor((s) => s.includes("paused"), "scrolling stops following");
      expect(f).not.toContain("step 33");
      await api.store.journal.append(loop.id, [{ phase: "agent", actor, message: "step 34" }]);
      f = await ui.waitFor((s) => s.includes("37 lines kept"), "the new line, counted but not shown");
      expect(f).not.toContain("step 34");
      expect(f).toMatch(/paused, \d+ newer below/);
      ui.press("f");
      await ui.waitFor((s) => s.includes("step 34") && s.includes("following"), "following again");
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("1,000 journal entries in a burst: the view shows the last ones, keeps at most its bound, and renders at the throttle's pace", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const limit = 200;
    const ui = mount(api, { journalLimit: limit });
    try {
      const { loop } = await api
        .client(api.tokens.operator)
        .loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "firehose" } }));
      await ui.waitFor((f) => f.includes("firehose"), "the loop");
      ui.press(KEY.enter);
      await ui.waitFor((f) => /loop created by op/.test(f) && f.includes("Journal following"), "the detail view");
      const framesBefore = ui.frames.length;
      const publishesBefore = ui.controller.store.publishes;
      const started = Date.now();
      const actor = { type: "agent", id: "replay" } as const;
      // 1,000 entries as fast as etcd takes them, in batches of 100 (the store writes each in a few txns).
      for (let b = 0; b < 10; b++) {
        await api.store.journal.append(
          loop.id,
          Array.from({ length: 100 }, (_, i) => ({
            phase: "agent" as const,
            actor,
            message: `burst ${b * 100 + i + 1}`,
          })),
        );
      }
      const f = await ui.waitFor(
        (s) => s.includes("1001 ") && /lines kept of 200, 801 older dropped/.test(s),
        "the last entry (seq 1001)",
      );
      const elapsed = Date.now() - started;
      const state = ui.controller.store.getState();
      expect(state.journal?.entries).toHaveLength(limit);
      expect(state.journal?.entries.at(-1)?.seq).toBe(1001);
      expect(state.journal?.dropped).toBe(801);
      // The bottom line is the newest entry.
      const journalLines = f.split("\n").filter((l) => /^ +\d+ \d\d:\d\d:\d\d /.test(l));
      expect(journalLines.at(-1)).toMatch(/^ +1001 /);
      // At most one publish per 100 ms (plus one at the start of the burst and the clock's ticks),
      // and no more frames than publishes: 1,000 entries did not cost 1,000 renders.
      const publishes = ui.controller.store.publishes - publishesBefore;
      const frames = ui.frames.length - framesBefore;
      const budget = Math.ceil(elapsed / 100) + Math.ceil(elapsed / 1000) + 2;
      expect(publishes).toBeLessThanOrEqual(budget);
      expect(frames).toBeLessThanOrEqual(publishes + 1);
      expect(frames).toBeLessThan(100);
    } finally {
      ui.unmount();
      await api.close();
    }
  });

  test("when the API restarts, both subscriptions reconnect by themselves and resume; the header says when it was lost and that it is back", async ({
    etcdEndpoint,
    prefix,
  }) => {
    const api = await startTestApi(etcdEndpoint, prefix);
    const { loop } = await api
      .client(api.tokens.operator)
      .loops.create.mutate(loopInput({ spec: { ...loopInput().spec, title: "survivor" } }));
    const ui = mount(api);
    let restarted: ApiServer | undefined;
    try {
      await ui.waitFor((f) => f.includes("survivor") && f.includes("● connected"), "the loop");
      ui.press(KEY.enter);
      await ui.waitFor((f) => /loop created by op/.test(f), "the journal");
      const port = Number(new URL(api.url).port);
      await api.server.stop(200);
      await ui.waitFor((f) => /◌ reconnecting… lost \d\d:\d\d:\d\d/.test(f), "the lost connection in the header");
      // While the API is down, the loop changes and its journal grows (straight through etcd).
      await api.store.journal.append(loop.id, [
        { phase: "agent", actor: { type: "agent", id: "replay" }, message: "written while the API was down" },
      ]);
      await api.store.loops.transition(loop.id, {
        type: "cancelRequested",
        reason: "while down",
        at: new Date().toISOString(),
      });
      restarted = new ApiServer({
        store: api.store,
        signingKey: SIGNING_KEY,
        adminToken: ADMIN_TOKEN,
        logger: silentLogger,
        defaultMetrics: false,
        allowLocalRepos: true,
      });
      await restarted.start({ port });
      const f = await ui.waitFor(
        (s) =>
          /● reconnected \d\d:\d\d:\d\d \(lost \d\d:\d\d:\d\d\)/.test(s) &&
          s.includes("written while the API was down") &&
          /state +cancelled/.test(s),
        "the reconnection, with what changed meanwhile",
        30_000,
      );
      // Resumed after the last event seen: no entry twice.
      expect(f.match(/loop created by op/g)).toHaveLength(1);
      expect(ui.controller.store.getState().journal?.entries.map((e) => e.seq)).toEqual([1, 2]);
    } finally {
      ui.unmount();
      await restarted?.stop(200);
      await api.close();
    }
  });
});
