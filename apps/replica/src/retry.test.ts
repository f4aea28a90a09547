import { describe, expect, it } from "vitest";
import { errorCode, isTransient, withRetry } from "./retry.ts";

/** The shape of a TRPCClientError whose server answered with `code`. */
const answered = (code: string) => Object.assign(new Error(code), { data: { code } });

describe("withRetry", () => {
  it("retries transient failures (no answer, 503, 500) and returns the first success", async () => {
    const failures = [
      new TypeError("fetch failed"),
      answered("SERVICE_UNAVAILABLE"),
      answered("INTERNAL_SERVER_ERROR"),
    ];
    const retried: number[] = [];
    let calls = 0;
    const value = await withRetry(
      async () => {
        calls++;
        const failure = failures.shift();
        if (failure) throw failure;
        return "stored";
      },
      { onRetry: (_err, attempt) => retried.push(attempt) },
    );
    expect(value).toBe("stored");
    expect(calls).toBe(4);
    expect(retried).toEqual([1, 2, 3]);
  });

  it("throws a final answer at once", async () => {
    let calls = 0;
    const conflict = answered("CONFLICT");
    await expect(
      withRetry(async () => {
        calls++;
        throw conflict;
      }),
    ).rejects.toBe(conflict);
    expect(calls).toBe(1);
  });

  it("after totalMs throws the last transient error as it was", async () => {
    let calls = 0;
    const errors: Error[] = [];
    const thrown = await withRetry(
      async () => {
        calls++;
        const e = answered("SERVICE_UNAVAILABLE");
        errors.push(e);
        throw e;
      },
      { totalMs: 300 },
    ).catch((e: unknown) => e);
    expect(calls).toBeGreaterThan(1);
    expect(thrown).toBe(errors.at(-1));
  });

  it("stops retrying once its signal is aborted", async () => {
    const controller = new AbortController();
    let calls = 0;
    const thrown = await withRetry(
      async () => {
        calls++;
        controller.abort();
        throw answered("SERVICE_UNAVAILABLE");
      },
      { signal: controller.signal },
    ).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(errorCode(thrown)).toBe("SERVICE_UNAVAILABLE");
  });
});

describe("isTransient", () => {
  it.each([
    ["SERVICE_UNAVAILABLE", true],
    ["TOO_MANY_REQUESTS", true],
    ["GATEWAY_TIMEOUT", true],
    ["CONFLICT", false],
    ["BAD_REQUEST", false],
    ["FORBIDDEN", false],
    ["PRECONDITION_FAILED", false],
  ])("%s: %s", (code, transient) => {
    expect(isTransient(answered(code))).toBe(transient);
  });
});
