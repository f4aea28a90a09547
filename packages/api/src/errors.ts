import { SmithError, assertNever, type ErrorCode } from "@smith/core";
import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";

/** The one place where domain errors become tRPC errors (the `cause` keeps the original). */
export function trpcCodeOf(code: ErrorCode): TRPC_ERROR_CODE_KEY {
  switch (code) {
    case "invalid_argument":
      return "BAD_REQUEST";
    case "not_found":
      return "NOT_FOUND";
    case "conflict":
    case "already_exists":
    case "stale_attempt":
      return "CONFLICT";
    case "too_large":
      return "PAYLOAD_TOO_LARGE";
    case "invalid_transition":
      return "PRECONDITION_FAILED";
    case "unsupported_schema_version":
    case "internal":
      return "INTERNAL_SERVER_ERROR";
    case "unauthenticated":
      return "UNAUTHORIZED";
    case "forbidden":
      return "FORBIDDEN";
    case "unavailable":
      return "SERVICE_UNAVAILABLE";
    case "not_supported":
      return "NOT_IMPLEMENTED";
    case "rate_limited":
      return "TOO_MANY_REQUESTS";
    default:
      return assertNever(code, "error code");
  }
}

export function toTRPCError(err: unknown): TRPCError {
  if (err instanceof TRPCError) return err;
  if (err instanceof SmithError) return new TRPCError({ code: trpcCodeOf(err.code), message: err.message, cause: err });
  return new TRPCError({
    code: "INTERNAL_SERVER_ERROR",
    message: "internal error",
    cause: err instanceof Error ? err : undefined,
  });
}

/** The domain error behind a tRPC error, if any. */
export function smithCause(err: unknown): SmithError | undefined {
  if (err instanceof SmithError) return err;
  if (err instanceof TRPCError && err.cause instanceof SmithError) return err.cause;
  return undefined;
}
