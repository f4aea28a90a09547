import { roleAtLeast, principalId, type Principal, type Role } from "@smith/auth";
import { LoopId, SmithError, issuePath, type AuditEventRequest } from "@smith/core";
import { TRPCError, initTRPC } from "@trpc/server";
import { ZodError } from "zod";
import type { Context } from "./context.ts";
import { smithCause, toTRPCError } from "./errors.ts";
import { transformer } from "./transformer.ts";

/**
 * tRPC, initialised once. Errors carry the domain code and details (field, limit) and the zod
 * issues (path, message) to the client; subscriptions ping so that proxies keep them open and
 * clients notice a dead connection.
 */
const t = initTRPC.context<Context>().create({
  transformer,
  errorFormatter({ shape, error }) {
    const cause = smithCause(error);
    const zod = error.cause instanceof ZodError ? error.cause : undefined;
    return {
      ...shape,
      message: zod ? zod.issues.map((i) => `${issuePath(i.path) || "input"}: ${i.message}`).join("; ") : shape.message,
      data: {
        ...shape.data,
        stack: undefined,
        smith: cause ? { code: cause.code, details: cause.details } : undefined,
        issues: zod ? zod.issues.map((i) => ({ path: issuePath(i.path), message: i.message })) : cause?.details.issues,
      },
    };
  },
  sse: {
    ping: { enabled: true, intervalMs: 5_000 },
    client: { reconnectAfterInactivityMs: 15_000 },
  },
});

export const router = t.router;

/**
 * Every call: turns domain errors thrown by handlers into tRPC errors (in one place, keeping the
 * cause) and counts and times it for /metrics.
 */
const observed = t.middleware(async ({ ctx, next, path, type }) => {
  const start = performance.now();
  const result = await next();
  let error = result.ok ? undefined : result.error;
  if (error && error.cause instanceof SmithError) error = toTRPCError(error.cause);
  ctx.services.metrics.requests.inc({ procedure: path, type, code: error ? error.code : "OK" });
  ctx.services.metrics.duration.observe({ procedure: path, type }, (performance.now() - start) / 1000);
  if (error) throw error;
  return result;
});

export const publicProcedure = t.procedure.use(observed);

async function deny(
  ctx: Context,
  path: string,
  code: "UNAUTHORIZED" | "FORBIDDEN",
  message: string,
  loopId?: string,
): Promise<never> {
  const actor =
    "principal" in ctx.auth
      ? { type: principalType(ctx.auth.principal), id: principalId(ctx.auth.principal) }
      : { type: "api" as const, id: "anonymous" };
  await ctx.services.audit.record({
    actor,
    action: path,
    loopId,
    outcome: "denied",
    error: code,
    correlationId: ctx.correlationId,
  });
  throw new TRPCError({ code, message });
}

function principalType(p: Principal): "operator" | "replica" {
  return p.kind === "replica" ? "replica" : "operator";
}

const authenticated = publicProcedure.use(async ({ ctx, next, path }) => {
  if (!("principal" in ctx.auth)) return deny(ctx, path, "UNAUTHORIZED", ctx.auth.message);
  return next({ ctx: { ...ctx, principal: ctx.auth.principal } });
});

function role(needed: Role) {
  return authenticated.use(async ({ ctx, next, path }) => {
    const p = ctx.principal;
    if (p.kind !== "user") return deny(ctx, path, "FORBIDDEN", "replica tokens may call only replica procedures");
    if (!roleAtLeast(p.role, needed))
      return deny(ctx, path, "FORBIDDEN", `${path} needs the ${needed} role; this token has ${p.role}`);
    return next({ ctx: { ...ctx, user: p } });
  });
}

/**
 * Audits every mutation: actor, action, loop, reason, correlation id and outcome. Replica
 * telemetry (journal appends, heartbeats) is its own record and is not audited.
 */
const audited = t.middleware(async ({ ctx, next, path, type, getRawInput }) => {
  const result = await next();
  if (type !== "mutation" || path === "replica.appendJournal" || path === "replica.heartbeat") return result;
  if (result.ok && ctx.auditWritten?.done) return result;
  const input = (await getRawInput().catch(() => undefined)) as Record<string, unknown> | undefined;
  const principal = "principal" in ctx.auth ? ctx.auth.principal : undefined;
  const loopId = pickLoopId(input) ?? (result.ok ? pickLoopId(result.data) : undefined);
  const cause = result.ok ? undefined : smithCause(result.error);
  await ctx.services.audit.record({
    actor: auditActor(principal),
    action: path,
    loopId,
    reason: typeof input?.reason === "string" ? input.reason.slice(0, 1024) : undefined,
    outcome: result.ok ? "ok" : "error",
    error: result.ok ? undefined : (cause?.code ?? result.error.code),
    correlationId: ctx.correlationId,
  });
  return result;
});

/** Who an audit event names: the caller (with its role), or an anonymous API call. */
export function auditActor(principal: Principal | undefined): AuditEventRequest["actor"] {
  return principal
    ? {
        type: principalType(principal),
        id: principalId(principal),
        ...(principal.kind === "user" ? { role: principal.role } : {}),
      }
    : { type: "api", id: "anonymous" };
}

function pickLoopId(value: unknown): string | undefined {
  if (!value || typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  for (const candidate of [v.loopId, v.id, (v.loop as Record<string, unknown> | undefined)?.id]) {
    if (typeof candidate === "string" && LoopId.safeParse(candidate).success) return candidate;
  }
  return undefined;
}

export const viewerProcedure = role("viewer");
export const operatorProcedure = role("operator").use(audited);
export const adminProcedure = role("admin").use(audited);

/**
 * Procedures replicas call: the token must be a replica token for the loop named in the input.
 * The attempt comes from the token; the store refuses a stale one (CONFLICT).
 */
export const replicaProcedure = authenticated
  .use(async ({ ctx, next, path, getRawInput }) => {
    const p = ctx.principal;
    if (p.kind !== "replica") return deny(ctx, path, "FORBIDDEN", "replica procedures need a replica token");
    const input = (await getRawInput().catch(() => undefined)) as { loopId?: unknown } | undefined;
    if (typeof input?.loopId !== "string" || input.loopId !== p.loopId) {
      return deny(
        ctx,
        path,
        "FORBIDDEN",
        "this replica token is for another loop",
        typeof input?.loopId === "string" ? input.loopId : undefined,
      );
    }
    return next({ ctx: { ...ctx, replica: p } });
  })
  .use(audited);
