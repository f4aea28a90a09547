import type { Principal } from "@smith/auth";
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { ApiServices } from "./services.ts";

export interface Context {
  /**
   * @internal Server-side only. Marked internal so that the declarations bundled into
   * @smith/client (built with `stripInternal`) do not drag the store's etcd and gRPC types along.
   */
  services: ApiServices;
  /** The caller, or why it could not be authenticated. */
  auth: { principal: Principal } | { error: "missing" | "invalid"; message: string };
  correlationId: string;
  /**
   * @internal Set by a procedure that wrote its own audit event inside its txn (loops.create), so
   * that the audit middleware does not write a second one.
   */
  auditWritten?: { done: boolean };
}

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1]?.trim() || undefined;
}

export async function createContext(services: ApiServices, req: IncomingMessage): Promise<Context> {
  const given = req.headers["x-correlation-id"];
  const correlationId = typeof given === "string" && CORRELATION_ID.test(given) ? given : randomUUID();
  const token = bearerToken(req);
  if (!token) return { services, correlationId, auth: { error: "missing", message: "a bearer token is required" } };
  const result = await services.auth.authenticate(token);
  return {
    services,
    correlationId,
    auditWritten: { done: false },
    auth: "principal" in result ? { principal: result.principal } : { error: "invalid", message: result.message },
  };
}
