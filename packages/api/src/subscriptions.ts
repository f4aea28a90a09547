import { SmithError } from "@smith/core";
import { TRPCError } from "@trpc/server";
import { toTRPCError } from "./errors.ts";

/**
 * A subscription that cannot go on (the subscriber fell too far behind, etcd compacted the
 * revision it asked for) ends with an error that tells the client what to do: resume from its
 * last event id, or re-list.
 */
export function subscriptionError(err: unknown): TRPCError {
  if (err instanceof SmithError && err.details.overflow) {
    return new TRPCError({
      code: "SERVICE_UNAVAILABLE",
      message: "the subscriber fell too far behind; resubscribe with its last event id",
      cause: err,
    });
  }
  return toTRPCError(err);
}
