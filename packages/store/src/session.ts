import { SCHEMA_VERSION, SmithError, newId } from "@smith/core";
import type { Lease } from "etcd3";
import { EventEmitter } from "node:events";
import { encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";

export type SessionState = "starting" | "running" | "lost" | "closed";

export interface SessionOptions {
  /** Identifies the process (default: a new id). */
  id?: string;
  /** Lease TTL in seconds (default 10). A dead process's claims vanish this long after it died. */
  ttlSeconds?: number;
  /** Shown in `schedulers/<id>` (host, pid, version...). */
  info?: Record<string, unknown>;
}

/**
 * One etcd lease per process, kept alive in the background. Everything the process claims is
 * bound to it, so when the process dies (or is partitioned away longer than the TTL) its claims
 * disappear by themselves. `lost` fires when the lease can no longer be kept alive: the process
 * must then stop acting on its claims.
 */
export class Session extends EventEmitter<{ lost: [Error] }> {
  readonly id: string;
  private readonly ctx: StoreContext;
  private readonly lease: Lease;
  private leaseId = "";
  private stateValue: SessionState = "starting";

  private constructor(ctx: StoreContext, id: string, ttlSeconds: number) {
    super();
    this.ctx = ctx;
    this.id = id;
    this.lease = ctx.client.lease(ttlSeconds, { autoKeepAlive: true });
    this.lease.on("lost", (err) => {
      if (this.stateValue === "closed") return;
      this.stateValue = "lost";
      this.emit("lost", err);
    });
  }

  static async open(ctx: StoreContext, options: SessionOptions = {}): Promise<Session> {
    const ttl = options.ttlSeconds ?? 10;
    if (!Number.isInteger(ttl) || ttl < 2 || ttl > 3600) {
      throw new SmithError("invalid_argument", `ttlSeconds must be an integer from 2 to 3600, got ${ttl}`, {
        field: "ttlSeconds",
      });
    }
    const session = new Session(ctx, options.id ?? newId(), ttl);
    session.leaseId = await etcdCall(() => session.lease.grant());
    await etcdCall(() =>
      session.lease
        .put(ctx.keys.scheduler(session.id))
        .value(
          encode({
            schemaVersion: SCHEMA_VERSION,
            id: session.id,
            startedAt: ctx.now().toISOString(),
            ...options.info,
          }),
        )
        .exec(),
    );
    session.stateValue = "running";
    return session;
  }

  get state(): SessionState {
    return this.stateValue;
  }

  /** The lease id, for puts that must vanish with this process. */
  get lease_id(): string {
    return this.leaseId;
  }

  /** Revokes the lease: every key bound to it (claims, membership) is deleted at once. */
  async close(): Promise<void> {
    if (this.stateValue === "closed") return;
    const wasLost = this.stateValue === "lost";
    this.stateValue = "closed";
    if (wasLost) {
      this.lease.release();
      return;
    }
    try {
      await this.lease.revoke();
    } catch {
      // The lease expires on its own within its TTL.
      this.lease.release();
    }
  }
}
