import {
  BOOTSTRAP_TOKEN_ID,
  hashMatches,
  hashToken,
  isReplicaToken,
  tokenRecordId,
  verifyReplicaToken,
  type Principal,
} from "@smith/auth";
import { SCHEMA_VERSION, SmithError } from "@smith/core";
import type { SmithStore, TokenRecord } from "@smith/store";

export interface AuthenticatorOptions {
  store: SmithStore;
  /** The key replica tokens are signed with (shared with the schedulers). */
  signingKey: string;
  /** How long a token record read from etcd is trusted before it is read again (default 5 s). */
  cacheMs?: number;
  now?: () => Date;
}

/**
 * Resolves a bearer token to a principal. Replica tokens are verified by signature; API tokens
 * by the SHA-256 stored in etcd (cached briefly so that a burst of calls is not a burst of
 * reads; a revocation takes effect within `cacheMs`). Never logs the token.
 */
export class Authenticator {
  private readonly options: AuthenticatorOptions;
  private readonly cache = new Map<string, { record: TokenRecord | undefined; at: number }>();

  constructor(options: AuthenticatorOptions) {
    this.options = options;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  async authenticate(token: string): Promise<{ principal: Principal } | { message: string }> {
    if (token.length > 4096) return { message: "invalid token" };
    if (isReplicaToken(token)) {
      try {
        const claims = verifyReplicaToken(this.options.signingKey, token, this.now());
        return { principal: { kind: "replica", loopId: claims.loopId, attempt: claims.attempt } };
      } catch (err) {
        return { message: err instanceof SmithError ? err.message : "invalid replica token" };
      }
    }
    const id = tokenRecordId(token);
    const record = await this.lookup(id);
    if (!record || !hashMatches(token, record.hash)) return { message: "invalid token" };
    // Fail closed: any revokedAt (even empty) revokes, and an expiry that does not parse has passed.
    if (record.revokedAt !== undefined) return { message: "the token has been revoked" };
    if (record.expiresAt !== undefined && !(Date.parse(record.expiresAt) > this.now().getTime()))
      return { message: "the token has expired" };
    return { principal: { kind: "user", tokenId: record.id, name: record.name, role: record.role } };
  }

  private async lookup(id: string): Promise<TokenRecord | undefined> {
    const cached = this.cache.get(id);
    const ttl = this.options.cacheMs ?? 5_000;
    if (cached && this.now().getTime() - cached.at < ttl) return cached.record;
    const record = await this.options.store.tokens.get(id);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(id, { record, at: this.now().getTime() });
    return record;
  }

  forget(id: string): void {
    this.cache.delete(id);
  }

  /** Stores the configured bootstrap admin token's hash (creating or updating it). */
  async bootstrap(adminToken: string): Promise<void> {
    if (adminToken.length < 16) {
      throw new SmithError(
        "invalid_argument",
        `the bootstrap admin token must be at least 16 characters, got ${adminToken.length}`,
        {
          field: "adminToken",
          limit: 16,
        },
      );
    }
    const existing = await this.options.store.tokens.get(BOOTSTRAP_TOKEN_ID);
    const hash = hashToken(adminToken);
    if (existing && existing.hash === hash && !existing.revokedAt) return;
    await this.options.store.tokens.put({
      schemaVersion: SCHEMA_VERSION,
      id: BOOTSTRAP_TOKEN_ID,
      name: "bootstrap admin",
      role: "admin",
      hash,
      createdAt: this.now().toISOString(),
      createdBy: "config",
    });
    this.forget(BOOTSTRAP_TOKEN_ID);
  }
}
