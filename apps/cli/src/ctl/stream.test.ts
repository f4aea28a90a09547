import { describe, expect, it } from "vitest";
import type { CtlIO } from "./io.ts";
import { runStream } from "./stream.ts";

function fakeIO(): { io: CtlIO; interrupt: () => void; handlers: Set<() => void> } {
  const handlers = new Set<() => void>();
  const io: CtlIO = {
    stdout: () => undefined,
    stderr: () => undefined,
    env: {},
    configPath: "/c.json",
    cwd: "/",
    readFile: () => "",
    readStdin: () => Promise.resolve({ text: "", tty: false }),
    getEnv: () => undefined,
    now: () => new Date(0),
    onInterrupt: (h) => {
      handlers.add(h);
      return () => handlers.delete(h);
    },
  };
  return { io, handlers, interrupt: () => [...handlers].forEach((h) => h()) };
}

describe("runStream", () => {
  it("ends with the command's exit code, unsubscribing once and releasing the interrupt handler", async () => {
    const { io, handlers } = fakeIO();
    let unsubscribed = 0;
    let finish: (r: number | Error) => void = () => undefined;
    const done = runStream(io, (f) => {
      finish = f;
      return { unsubscribe: () => unsubscribed++ };
    });
    expect(handlers.size).toBe(1);
    finish(3);
    finish(4);
    await expect(done).resolves.toBe(3);
    expect(unsubscribed).toBe(1);
    expect(handlers.size).toBe(0);
  });

  it("Ctrl-C ends it with 0", async () => {
    const { io, interrupt } = fakeIO();
    let unsubscribed = false;
    const done = runStream(io, () => ({ unsubscribe: () => (unsubscribed = true) }));
    interrupt();
    await expect(done).resolves.toBe(0);
    expect(unsubscribed).toBe(true);
  });

  it("an error is rethrown, and a subscription that fails while starting is still unsubscribed", async () => {
    const { io } = fakeIO();
    let unsubscribed = false;
    const done = runStream(io, (finish) => {
      finish(new Error("UNAUTHORIZED"));
      return { unsubscribe: () => (unsubscribed = true) };
    });
    await expect(done).rejects.toThrow("UNAUTHORIZED");
    expect(unsubscribed).toBe(true);
  });
});
