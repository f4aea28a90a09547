import { ApiException } from "@kubernetes/client-node";
import { SmithError, type ErrorCode } from "@smith/core";

/** The HTTP status of a failed Kubernetes API call; undefined for a network error. */
export function kubeStatusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err === "object" && err !== null) {
    for (const key of ["code", "statusCode"]) {
      const v = (err as Record<string, unknown>)[key];
      if (typeof v === "number") return v;
    }
  }
  return undefined;
}

/** The API server's own message (a metav1.Status body) when there is one. */
function serverMessage(err: unknown): string | undefined {
  if (!(err instanceof ApiException)) return undefined;
  let body: unknown = err.body;
  if (typeof body === "string") {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return text.slice(0, 1000) || undefined;
    }
  }
  if (typeof body === "object" && body !== null && "message" in body && typeof body.message === "string")
    return body.message;
  return undefined;
}

function codeFor(status: number | undefined): ErrorCode {
  if (status === undefined) return "unavailable";
  if (status === 400 || status === 422) return "invalid_argument";
  if (status === 401) return "unauthenticated";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 409) return "already_exists";
  return "unavailable";
}

/** A failed Kubernetes API call as a SmithError (code from the HTTP status), keeping the cause. */
export function kubeError(err: unknown, what: string): SmithError {
  if (err instanceof SmithError) return err;
  const status = kubeStatusCode(err);
  const detail = serverMessage(err) ?? (err instanceof Error ? err.message.split("\n")[0] : String(err));
  return new SmithError(
    codeFor(status),
    `${what}: ${status ? `HTTP ${status}: ` : ""}${detail}`,
    status ? { status } : {},
    { cause: err },
  );
}
