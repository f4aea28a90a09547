import { SCHEMA_VERSION, SmithError } from "@smith/core";
import { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { etcdCall } from "./etcd.ts";
import { absent, txn } from "./txn.ts";

export const TokenRole = z.enum(["viewer", "operator", "admin"]);
export type TokenRole = z.infer<typeof TokenRole>;

/** An API token as stored: never the token itself, only its SHA-256. */
export const TokenRecord = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  id: z.string().min(1).max(64),
  name: z.string().min(1).max(128),
  role: TokenRole,
  /** Hex SHA-256 of the whole token string. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  createdBy: z.string(),
  expiresAt: z.string().optional(),
  revokedAt: z.string().optional(),
});
export type TokenRecord = z.infer<typeof TokenRecord>;

export class TokenRepository {
  private readonly ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  async create(record: TokenRecord): Promise<TokenRecord> {
    const key = this.ctx.keys.token(record.id);
    const res = await txn(this.ctx.client, [absent(key)], [this.ctx.client.put(key).value(encode(record))]);
    if (!res.succeeded) throw new SmithError("already_exists", `token ${record.id} already exists`, { field: "id" });
    return record;
  }

  /** Creates or replaces (the bootstrap admin token follows its configuration). */
  async put(record: TokenRecord): Promise<void> {
    await etcdCall(() => this.ctx.client.put(this.ctx.keys.token(record.id)).value(encode(record)).exec());
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const key = this.ctx.keys.token(id);
    const raw = await etcdCall(() => this.ctx.client.get(key).buffer());
    return raw ? decode(TokenRecord, raw, key) : undefined;
  }

  async list(): Promise<TokenRecord[]> {
    const res = await etcdCall(() => this.ctx.client.getAll().prefix(this.ctx.keys.tokensPrefix()).exec());
    return res.kvs.map((kv) => decode(TokenRecord, kv.value, kv.key.toString()));
  }

  async revoke(id: string): Promise<TokenRecord> {
    const current = await this.get(id);
    if (!current) throw new SmithError("not_found", `token ${id} not found`, { field: "id" });
    const revoked = { ...current, revokedAt: current.revokedAt ?? this.ctx.now().toISOString() };
    await this.put(revoked);
    return revoked;
  }
}
